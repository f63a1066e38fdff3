import fs from 'node:fs';
import http from 'node:http';
import { startEmulator, type GenesysEmulator } from '../../emulator/genesys-emulator';
import { exitOf, startGateway, type Gateway } from './spawn';

// Open `GET /session/events` streams against the gateway as its own process: they must not hold
// up SIGTERM, and each must cost little memory (issue 10).

/** Resident memory of a process, in bytes (Linux /proc). */
function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Opens one stream with `cookie`; resolves once its head is in, with a promise of its close. */
function openStream(
  url: string,
  cookie: string,
): Promise<{ status: number; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/session/events`, { headers: { Cookie: cookie } }, (res) => {
      res.resume();
      resolve({
        status: res.statusCode ?? 0,
        closed: new Promise((done) => res.on('close', done)),
      });
    });
    req.on('error', reject);
  });
}

async function logins(gateway: Gateway, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i += 1) cookies.push(await gateway.login());
  return cookies;
}

async function openMany(gateway: Gateway, cookies: string[], perSession: number) {
  const streams = [];
  for (const cookie of cookies) {
    for (let j = 0; j < perSession; j += 1) streams.push(await openStream(gateway.url, cookie));
  }
  return streams;
}

describe('event streams against the gateway process', () => {
  let emulator: GenesysEmulator;
  let gateway: Gateway | undefined;

  beforeEach(async () => {
    emulator = await startEmulator();
  });

  afterEach(async () => {
    if (gateway?.child.exitCode === null) gateway.child.kill('SIGKILL');
    await emulator.close();
  });

  it('SIGTERM with 100 open streams: each closes and the process exits 0 at once', async () => {
    gateway = await startGateway(emulator, { SHUTDOWN_DRAIN_SECONDS: '10' });
    const streams = await openMany(gateway, await logins(gateway, 20), 5);
    expect(streams.map((s) => s.status)).toEqual(Array(100).fill(200));
    const started = Date.now();
    const exited = exitOf(gateway.child);
    gateway.child.kill('SIGTERM');
    await Promise.all(streams.map((s) => s.closed));
    expect(await exited).toBe(0);
    // Well before the 10 s drain bound: the streams are not work the drain waits for.
    expect(Date.now() - started).toBeLessThan(2000);
  }, 60_000);

  it('500 open streams cost little memory each (RSS per stream reported)', async () => {
    gateway = await startGateway(emulator, { EVENTS_MAX_STREAMS: '1000' });
    const pid = gateway.child.pid as number;
    // The sessions first, so their cost (and the logins' garbage) is not counted as the streams'.
    const cookies = await logins(gateway, 110);
    // Warm up: a first batch, so the heap and the sockets' buffers have their working size.
    const warm = await openMany(gateway, cookies.slice(0, 10), 5);
    const before = rssOf(pid);
    const streams = await openMany(gateway, cookies.slice(10), 5);
    const after = rssOf(pid);
    expect([...warm, ...streams].every((s) => s.status === 200)).toBe(true);
    const perStream = (after - before) / streams.length;
    process.stdout.write(
      `event streams: ${streams.length} more open, RSS ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB, ${(perStream / 1024).toFixed(1)} KiB per stream\n`,
    );
    // A socket, its request and response (with the loaded session) and a small record, plus
    // the garbage of opening it that no GC has taken yet: measured near 43 KiB on Node 20.
    expect(perStream).toBeLessThan(64 * 1024);
    const exited = exitOf(gateway.child);
    gateway.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
