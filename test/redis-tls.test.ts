import fs from 'node:fs';
import Redis from 'ioredis';
import { StoreUnavailableError } from '../server/stores/errors';
import { RedisSessionStore } from '../server/stores/redis/store';
import type { RedisSessionStoreOptions } from '../server/stores/redis/store';
import { documentedAclRules } from './support/redis-acl';
import { connectRedisStore, describeRedisStoreContract } from './support/redis-contract';
import { mainFailure, mainServes } from './support/redis-main';
import { startRedisServer, type RedisServer } from './support/redis-server';
import { makeTlsFiles, type TlsFiles } from './support/redis-tls';

const PASSWORD = 'acl-password-CANARY-5d1e';

let tls: TlsFiles;
let redis: RedisServer;
// The server's admin (the default user), over TLS too: the port speaks nothing else.
let admin: Redis;
let prefixes = 0;

beforeAll(async () => {
  tls = makeTlsFiles();
  redis = await startRedisServer({ tls });
  admin = new Redis(redis.port, '127.0.0.1', {
    tls: { ca: [fs.readFileSync(tls.ca)] },
    maxRetriesPerRequest: 1,
  });
  await admin.call('ACL', 'SETUSER', 'tokens-bff', ...documentedAclRules(PASSWORD));
});

afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
  tls?.remove();
});

/** The gateway's URL for the documented ACL user. */
function aclUrl(password = PASSWORD): string {
  return `rediss://tokens-bff:${password}@127.0.0.1:${redis.port}`;
}

// The whole contract as the documented ACL user, over TLS verified against the test's CA.
describeRedisStoreContract(
  'RedisSessionStore over TLS as the documented ACL user',
  () => ({
    url: aclUrl(),
    tlsCa: fs.readFileSync(tls.ca, 'utf8'),
    // Inside the documented key pattern (~tokens-bff:*), one prefix per test.
    keyPrefix: `tokens-bff:tls-${(prefixes += 1)}:`,
  }),
  () => admin,
);

describe('Redis over TLS with an ACL user', () => {
  async function connectError(
    options: Partial<RedisSessionStoreOptions>,
  ): Promise<[Error, number]> {
    const store = new RedisSessionStore({ url: aclUrl(), startupTimeoutMs: 5000, ...options });
    const started = Date.now();
    try {
      await store.connect();
    } catch (err) {
      return [err as Error, Date.now() - started];
    } finally {
      await store.close();
    }
    throw new Error('connect() succeeded');
  }

  it('connects as that user, over TLS', async () => {
    const store = await connectRedisStore({
      url: aclUrl(),
      tlsCa: fs.readFileSync(tls.ca, 'utf8'),
    });
    try {
      await store.ping();
      const clients = String(await admin.call('CLIENT', 'LIST'));
      expect(clients).toMatch(/ user=tokens-bff /);
    } finally {
      await store.close();
    }
  });

  it('refuses a server certificate its CA did not sign, at once and in one clear error', async () => {
    const [err, ms] = await connectError({ tlsCa: fs.readFileSync(tls.otherCa, 'utf8') });
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toMatch(
      new RegExp(
        `^cannot connect to Redis at rediss://127\\.0\\.0\\.1:${redis.port}: .*certificate`,
      ),
    );
    expect(err.message).not.toContain(PASSWORD);
    // Not retried until startupTimeoutMs: a wrong CA does not mend itself.
    expect(ms).toBeLessThan(2000);
  });

  it('refuses a wrong password at once, without echoing it', async () => {
    const [err, ms] = await connectError({
      url: aclUrl('wrong-password-CANARY'),
      tlsCa: fs.readFileSync(tls.ca, 'utf8'),
    });
    expect(err.message).toMatch(
      /^cannot connect to Redis at rediss:\/\/127\.0\.0\.1:\d+: WRONGPASS/,
    );
    expect(err.message).not.toContain('wrong-password-CANARY');
    expect(ms).toBeLessThan(2000);
  });

  it('the documented user can do nothing the store does not need', async () => {
    const user = new Redis(aclUrl(), {
      tls: { ca: [fs.readFileSync(tls.ca)] },
      maxRetriesPerRequest: 1,
    });
    try {
      await expect(user.set('tokens-bff:x', '1')).resolves.toBe('OK');
      await expect(user.get('other-app:x')).rejects.toThrow(/NOPERM/);
      await expect(user.flushall()).rejects.toThrow(/NOPERM/);
      await expect(user.call('KEYS', '*')).rejects.toThrow(/NOPERM/);
      await expect(user.call('CONFIG', 'GET', '*')).rejects.toThrow(/NOPERM/);
      await expect(user.publish('other-app:events', 'x')).rejects.toThrow(/NOPERM/);
    } finally {
      user.disconnect();
    }
  });

  describe('at start-up (node dist/server/main.js)', () => {
    it('a wrong CA: one line naming the Redis and the certificate problem, exit 1, no stack', async () => {
      const [code, err] = await mainFailure({
        REDIS_URL: aclUrl(),
        REDIS_TLS_CA_FILE: tls.otherCa,
      });
      expect(code).toBe(1);
      expect(err).toMatch(
        /^tokens-bff failed to start: cannot connect to Redis at rediss:\/\/127\.0\.0\.1:\d+: [^\n]*certificate[^\n]*\n$/,
      );
      expect(err).not.toContain(PASSWORD);
    });

    it('the right CA and the ACL user: listens, is ready, stops cleanly', async () => {
      expect(await mainServes({ REDIS_URL: aclUrl(), REDIS_TLS_CA_FILE: tls.ca })).toEqual([0, '']);
    });

    it('a CA file that is missing: a configuration error, exit 1', async () => {
      const [code, err] = await mainFailure({
        REDIS_URL: aclUrl(),
        REDIS_TLS_CA_FILE: `${tls.dir}/missing.crt`,
      });
      expect(code).toBe(1);
      expect(err).toBe(
        `Invalid configuration:\n  - REDIS_TLS_CA_FILE: cannot read ${tls.dir}/missing.crt (ENOENT)\n`,
      );
    });
  });
});
