import net from 'node:net';
import type { RedisEndpoint } from '../../config/types';

/**
 * A Sentinel whose timing the test decides: it speaks the few commands a Sentinel client sends
 * (SENTINEL get-master-addr-by-name and sentinels, SUBSCRIBE, CLIENT, PING) and names the
 * primary the test set. A test can hold its answers to get-master-addr-by-name, and send
 * +switch-master when it likes: a real Sentinel sends it when it is done, so the moment it
 * lands in a client's reconnect cannot be chosen with one. The primaries are real redis-servers.
 */
export interface ScriptedSentinel {
  readonly endpoint: RedisEndpoint;
  /** The primary it names from now on. */
  setPrimary(primary: RedisEndpoint): void;
  /** Answers to get-master-addr-by-name wait from now on, until release(). */
  hold(): void;
  /** Sends the held answers (naming the primary set now), and answers at once again. */
  release(): void;
  /** Resolves once `count` requests wait for a held answer. */
  untilHeld(count?: number): Promise<void>;
  /** Sends +switch-master from `from` to the primary set now to every subscriber. */
  switchMaster(name: string, from: RedisEndpoint): void;
  close(): Promise<void>;
}

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const array = (items: string[]): string => `*${items.length}\r\n${items.map(bulk).join('')}`;

/** Reads the RESP arrays of bulk strings a client sends; returns the commands and what is left. */
function parseCommands(buffer: string): { commands: string[][]; rest: string } {
  const commands: string[][] = [];
  let at = 0;
  for (;;) {
    const header = /^\*(\d+)\r\n/.exec(buffer.slice(at));
    if (!header) break;
    let p = at + header[0].length;
    const args: string[] = [];
    for (let i = 0; i < Number(header[1]); i += 1) {
      const len = /^\$(\d+)\r\n/.exec(buffer.slice(p));
      if (!len) return { commands, rest: buffer.slice(at) };
      const start = p + len[0].length;
      if (buffer.length < start + Number(len[1]) + 2) return { commands, rest: buffer.slice(at) };
      args.push(buffer.slice(start, start + Number(len[1])));
      p = start + Number(len[1]) + 2;
    }
    commands.push(args);
    at = p;
  }
  return { commands, rest: buffer.slice(at) };
}

export async function startScriptedSentinel(primary: RedisEndpoint): Promise<ScriptedSentinel> {
  let current = primary;
  let holding = false;
  const held: net.Socket[] = [];
  const heldWaiters: { count: number; wake: () => void }[] = [];
  const subscribers = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const masterReply = (): string => array([current.host, String(current.port)]);

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      subscribers.delete(socket);
    });
    socket.on('error', () => undefined);
    let buffer = '';
    socket.on('data', (chunk) => {
      const parsed = parseCommands(buffer + chunk.toString('utf8'));
      buffer = parsed.rest;
      for (const [name = '', ...args] of parsed.commands) {
        const command = name.toLowerCase();
        const sub = (args[0] ?? '').toLowerCase();
        if (command === 'sentinel' && sub === 'get-master-addr-by-name') {
          if (!holding) {
            socket.write(masterReply());
            continue;
          }
          held.push(socket);
          for (const waiter of heldWaiters.filter((w) => held.length >= w.count)) {
            heldWaiters.splice(heldWaiters.indexOf(waiter), 1);
            waiter.wake();
          }
        } else if (command === 'sentinel' && sub === 'sentinels') {
          // No peers: the client keeps to this one Sentinel.
          socket.write('*0\r\n');
        } else if (command === 'subscribe') {
          subscribers.add(socket);
          args.forEach((channel, i) => {
            socket.write(`*3\r\n${bulk('subscribe')}${bulk(channel)}:${i + 1}\r\n`);
          });
        } else if (command === 'ping') {
          socket.write('+PONG\r\n');
        } else if (command === 'client') {
          socket.write('+OK\r\n');
        } else {
          socket.write(`-ERR unknown command '${name}'\r\n`);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    endpoint: { host: '127.0.0.1', port },
    setPrimary: (next) => {
      current = next;
    },
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const socket of held.splice(0)) socket.write(masterReply());
    },
    untilHeld: (count = 1) =>
      held.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => heldWaiters.push({ count, wake: () => resolve() })),
    switchMaster: (name, from) => {
      const text = `${name} ${from.host} ${from.port} ${current.host} ${current.port}`;
      for (const socket of subscribers) socket.write(array(['message', '+switch-master', text]));
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
