import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/gateway-harness';
import { startRedisServer } from '../support/redis-server';
import { collect, exitOf, mainEnv, runMain as run, waitFor } from './spawn';

/** The parsed `listening` log line. */
function listeningLine(out: string): Record<string, unknown> {
  const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
  return JSON.parse(line ?? '{}') as Record<string, unknown>;
}

describe('node dist/server/main.js', () => {
  it('with a missing and invalid environment, prints one message naming every bad variable and exits 1', async () => {
    const child = run({ PORT: 'abc', SESSION_SECRET: 'short-secret-value' });
    const io = collect(child);
    expect(await exitOf(child)).toBe(1);
    expect(io.err()).toBe(
      [
        'Invalid configuration:',
        '  - PORT: must be an integer between 1 and 65535',
        '  - PUBLIC_BASE_URL: is required',
        '  - OAUTH_CLIENT_ID: is required',
        '  - SESSION_SECRET: each entry must be at least 32 characters (entry 1 has 18)',
        '',
      ].join('\n'),
    );
    expect(io.err()).not.toContain('short-secret-value');
    expect(io.err()).not.toMatch(/\bat .*\.js:\d+/);
    expect(io.out()).toBe('');
  });

  it('with a valid environment, listens, answers /healthz, and stops cleanly on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-main-'));
    const port = await freePort();
    const child = run(mainEnv(port, { SESSION_SQLITE_PATH: path.join(dir, 'sessions.sqlite') }));
    const io = collect(child);
    try {
      await waitFor(() => io.out().includes('"msg":"listening"'), 10_000);
      expect(listeningLine(io.out())).toMatchObject({ address: `127.0.0.1:${port}` });
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const exited = exitOf(child);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(io.out()).toContain('"msg":"stopped"');
      expect(io.err()).toBe('');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('listening on every address (HOST=0.0.0.0, as in the image), logs 0.0.0.0, not 127.0.0.1', async () => {
    const port = await freePort();
    const child = run(mainEnv(port, { HOST: '0.0.0.0', SESSION_STORE: 'memory' }));
    const io = collect(child);
    try {
      await waitFor(() => io.out().includes('"msg":"listening"'), 10_000);
      expect(listeningLine(io.out())).toMatchObject({
        address: `0.0.0.0:${port}`,
        store: 'memory',
      });
      expect(io.out()).not.toContain('127.0.0.1');
      const exited = exitOf(child);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  describe('with SESSION_STORE=redis', () => {
    async function baseEnv(): Promise<Record<string, string>> {
      return mainEnv(await freePort(), { SESSION_STORE: 'redis' });
    }

    it('when Redis cannot be reached at start, prints one line naming it (no password, no stack) and exits 1', async () => {
      const redisPort = await freePort();
      const child = run({
        ...(await baseEnv()),
        REDIS_URL: `redis://default:redis-password-value@127.0.0.1:${redisPort}`,
      });
      const io = collect(child);
      expect(await exitOf(child)).toBe(1);
      expect(io.err()).toMatch(
        new RegExp(
          `^tokens-bff failed to start: cannot connect to Redis at redis://127\\.0\\.0\\.1:${redisPort}: [^\\n]*ECONNREFUSED[^\\n]*\\n$`,
        ),
      );
      expect(io.err()).not.toContain('redis-password-value');
      expect(io.out()).not.toContain('"msg":"listening"');
    });

    it('with Redis up, listens, is ready, and stops cleanly on SIGTERM', async () => {
      const redis = await startRedisServer();
      const env = await baseEnv();
      const child = run({ ...env, REDIS_URL: redis.url });
      const io = collect(child);
      try {
        await waitFor(() => io.out().includes('"msg":"listening"'), 10_000);
        expect(io.out()).toContain('"store":"redis"');
        expect((await fetch(`http://127.0.0.1:${env.PORT}/readyz`)).status).toBe(200);
        const exited = exitOf(child);
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(io.err()).toBe('');
      } finally {
        child.kill('SIGKILL');
        await redis.stop();
      }
    });
  });
});
