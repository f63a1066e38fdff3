import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { RedisEndpoint } from '../../config/types';
import { freePort } from './gateway-harness';
import type { TlsFiles } from './redis-tls';
import {
  assertInstalled,
  exited,
  launch,
  startRedisServer,
  type RedisServer,
} from './redis-server';

/** The name the Sentinels know the primary by (REDIS_SENTINEL_MASTER). */
export const SENTINEL_MASTER = 'tokens-bff-primary';

// Low, so that a test's failover takes seconds: the primary is down after 1 s without an answer,
// and a failover that stalls is retried after 3 s.
const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 3000;

/** A primary, one replica and three Sentinels on 127.0.0.1, owned by one test file. */
export interface SentinelSetup {
  readonly primary: RedisServer;
  readonly replica: RedisServer;
  /** What REDIS_SENTINELS lists. */
  readonly sentinels: readonly RedisEndpoint[];
  /** The server the Sentinels name as primary now. */
  currentPrimary(): Promise<RedisEndpoint>;
  /** Stops every process and removes the folder; safe to call twice. */
  stop(): Promise<void>;
}

async function until<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts the primary, its replica and three Sentinels (quorum 2), and resolves once every
 * Sentinel knows the replica and the two other Sentinels: only then can a failover be agreed.
 * With `tls`, every one of them speaks only TLS (port 0): clients, replication, and Sentinels to
 * the servers and to each other.
 */
export async function startSentinelSetup(tls?: TlsFiles): Promise<SentinelSetup> {
  assertInstalled('redis-sentinel', 'redis-sentinel');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-sentinel-'));
  const children: ChildProcess[] = [];
  const clients: Redis[] = [];
  let primary: RedisServer | undefined;
  let replica: RedisServer | undefined;
  let stopped = false;

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    for (const c of clients) c.disconnect();
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await primary?.stop();
    await replica?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  try {
    // The replica dials its primary over TLS too, and then names its TLS port to it (and so to
    // the Sentinels, which learn of replicas from the primary).
    const overTls = tls ? { tls, args: ['--tls-replication', 'yes'] } : { args: [] };
    primary = await startRedisServer(overTls);
    replica = await startRedisServer({
      ...overTls,
      args: [...overTls.args, '--replicaof', '127.0.0.1', String(primary.port)],
    });
    const sentinels: RedisEndpoint[] = [];
    for (let i = 0; i < 3; i += 1) {
      const port = await freePort();
      const file = path.join(dir, `sentinel-${i}.conf`);
      // Sentinel rewrites its config file as it learns: each one has its own, in the test's folder.
      fs.writeFileSync(
        file,
        [
          ...(tls
            ? [
                'port 0',
                `tls-port ${port}`,
                `tls-cert-file ${tls.cert}`,
                `tls-key-file ${tls.key}`,
                `tls-ca-cert-file ${tls.ca}`,
                'tls-auth-clients no',
                'tls-replication yes',
              ]
            : [`port ${port}`]),
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${SENTINEL_MASTER} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${SENTINEL_MASTER} ${FAILOVER_TIMEOUT_MS}`,
          `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
          '',
        ].join('\n'),
      );
      children.push(
        await launch([file], `redis-sentinel on port ${port}`, 'redis-sentinel', '+monitor master'),
      );
      sentinels.push({ host: '127.0.0.1', port });
    }
    for (const { port } of sentinels) {
      const client = new Redis(port, '127.0.0.1', {
        maxRetriesPerRequest: 1,
        ...(tls ? { tls: { ca: [fs.readFileSync(tls.ca)] } } : {}),
      });
      clients.push(client);
      await until(`Sentinel ${port} to know the replica and its peers`, async () => {
        const peers = (await client.call('SENTINEL', 'SENTINELS', SENTINEL_MASTER)) as unknown[];
        const replicas = (await client.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER)) as string[][];
        const ready = replicas.some((fields) => {
          const flags = fields[fields.indexOf('flags') + 1];
          const link = fields[fields.indexOf('master-link-status') + 1];
          return flags === 'slave' && link === 'ok';
        });
        return peers.length === 2 && ready ? true : undefined;
      });
    }
    const first = clients[0] as Redis;
    return {
      primary,
      replica,
      sentinels,
      async currentPrimary() {
        const [host = '', port = '0'] = (await first.call(
          'SENTINEL',
          'GET-MASTER-ADDR-BY-NAME',
          SENTINEL_MASTER,
        )) as string[];
        return { host, port: Number(port) };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
