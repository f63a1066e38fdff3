import { ConfigError } from '../config/config-error';
import { loadConfig } from '../config/load-config';
import type { Config } from '../config/types';

// docs/redis.md#configuration: exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES
// with SESSION_STORE=redis, and only the settings the chosen one uses.
const BASE = {
  PUBLIC_BASE_URL: 'https://app.example.com',
  OAUTH_CLIENT_ID: 'client-id',
  SESSION_SECRET: 'zebra-CANARY-7f3c-marmalade-0123456789',
  SESSION_STORE: 'redis',
};
const PASSWORD = 'redis-CANARY-password-91ab';
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

type Env = Record<string, string | undefined>;

function files(contents: Record<string, string>): (file: string) => string {
  return (file) => {
    const content = contents[file];
    if (content === undefined) {
      throw Object.assign(new Error(`ENOENT: no such file '${file}'`), { code: 'ENOENT' });
    }
    return content;
  };
}

const NO_FILES = files({});

function load(env: Env, readFile = NO_FILES): Config {
  return loadConfig({ ...BASE, ...env }, readFile);
}

/** The problem lines of the ConfigError for `env` (without the heading). */
function problems(env: Env, readFile = NO_FILES): string[] {
  try {
    loadConfig({ ...BASE, ...env }, readFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    expect(error.message).not.toContain(PASSWORD);
    return error.problems.map((p) => `${p.variable}: ${p.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('Redis configuration', () => {
  describe('REDIS_URL', () => {
    it('takes an ACL user and password in the URL', () => {
      const url = `redis://tokens-bff:${PASSWORD}@redis:6379`;
      expect(load({ REDIS_URL: url }).session.redis).toEqual({ url, tls: false });
    });

    it('takes rediss:// with a CA file, read at start-up', () => {
      const config = load(
        { REDIS_URL: 'rediss://redis:6380', REDIS_TLS_CA_FILE: '/etc/redis-ca.pem' },
        files({ '/etc/redis-ca.pem': CA }),
      );
      expect(config.session.redis).toEqual({ url: 'rediss://redis:6380', tls: false, tlsCa: CA });
    });

    it('may come from REDIS_URL_FILE, like every secret', () => {
      const url = `rediss://tokens-bff:${PASSWORD}@redis:6380`;
      const config = load(
        { REDIS_URL_FILE: '/run/secrets/redis' },
        files({ '/run/secrets/redis': `${url}\n` }),
      );
      expect(config.session.redis?.url).toBe(url);
    });
  });

  describe('REDIS_SENTINELS', () => {
    it('lists host:port entries (names, IPv4, bracketed IPv6) with the primary name', () => {
      const config = load({
        REDIS_SENTINELS: 'sentinel-1:26379, 10.0.0.2:26380,[::1]:26381',
        REDIS_SENTINEL_MASTER: 'sessions',
        REDIS_USERNAME: 'tokens-bff',
        REDIS_PASSWORD: PASSWORD,
      });
      expect(config.session.redis).toEqual({
        sentinels: [
          { host: 'sentinel-1', port: 26379 },
          { host: '10.0.0.2', port: 26380 },
          { host: '::1', port: 26381 },
        ],
        sentinelMaster: 'sessions',
        username: 'tokens-bff',
        password: PASSWORD,
        tls: false,
      });
    });

    it('needs REDIS_SENTINEL_MASTER', () => {
      expect(problems({ REDIS_SENTINELS: 's1:26379' })).toEqual([
        'REDIS_SENTINEL_MASTER: is required with REDIS_SENTINELS',
      ]);
    });

    it.each(['s1', 's1:0', 's1:70000', 'redis://s1:26379', 's1:26379,', 'user:pw@s1:26379'])(
      'refuses %s',
      (list) => {
        expect(problems({ REDIS_SENTINELS: list, REDIS_SENTINEL_MASTER: 'm' })[0]).toMatch(
          /^REDIS_SENTINELS: must be a comma list of host:port, e\.g\. .* \(entr(y|ies) \d/,
        );
      },
    );

    it('names the bad entries', () => {
      expect(problems({ REDIS_SENTINELS: 'a:1,b,c:2,d', REDIS_SENTINEL_MASTER: 'm' })).toEqual([
        'REDIS_SENTINELS: must be a comma list of host:port, e.g. redis-1:26379,redis-2:26379 (entries 2 and 4 are not)',
      ]);
    });

    it('takes the password from REDIS_PASSWORD_FILE', () => {
      const config = load(
        {
          REDIS_SENTINELS: 's1:26379',
          REDIS_SENTINEL_MASTER: 'm',
          REDIS_PASSWORD_FILE: '/run/secrets/redis-password',
        },
        files({ '/run/secrets/redis-password': `${PASSWORD}\n` }),
      );
      expect(config.session.redis?.password).toBe(PASSWORD);
    });
  });

  describe('REDIS_CLUSTER_NODES', () => {
    it('lists seed nodes, with TLS and a CA', () => {
      const config = load(
        {
          REDIS_CLUSTER_NODES: 'node-1:6379,node-2:6379',
          REDIS_TLS: 'true',
          REDIS_TLS_CA_FILE: '/ca.pem',
        },
        files({ '/ca.pem': CA }),
      );
      expect(config.session.redis).toEqual({
        clusterNodes: [
          { host: 'node-1', port: 6379 },
          { host: 'node-2', port: 6379 },
        ],
        tls: true,
        tlsCa: CA,
      });
    });
  });

  describe('exactly one way to reach Redis', () => {
    it('none: REDIS_URL is required', () => {
      expect(problems({})).toEqual(['REDIS_URL: is required when SESSION_STORE=redis']);
    });

    it('two or three: each one after the first is reported', () => {
      expect(
        problems({
          REDIS_URL: 'redis://r:6379',
          REDIS_SENTINELS: 's1:26379',
          REDIS_SENTINEL_MASTER: 'm',
          REDIS_CLUSTER_NODES: 'c1:6379',
        }),
      ).toEqual([
        'REDIS_SENTINELS: set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (REDIS_URL is set too)',
        'REDIS_CLUSTER_NODES: set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (REDIS_URL is set too)',
      ]);
      expect(problems({ REDIS_SENTINELS: 's1:26379', REDIS_CLUSTER_NODES: 'c1:6379' })).toEqual([
        'REDIS_CLUSTER_NODES: set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (REDIS_SENTINELS is set too)',
      ]);
    });

    it('is not asked of the other stores, which ignore the Redis settings', () => {
      expect(load({ SESSION_STORE: 'memory' }).session.redis).toBeUndefined();
    });
  });

  describe('settings the chosen way does not use', () => {
    it('REDIS_SENTINEL_MASTER without Sentinels', () => {
      expect(problems({ REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_MASTER: 'm' })).toEqual([
        'REDIS_SENTINEL_MASTER: is used only with REDIS_SENTINELS',
      ]);
    });

    it('REDIS_USERNAME or REDIS_PASSWORD with REDIS_URL (its credentials are in the URL)', () => {
      expect(
        problems({ REDIS_URL: 'redis://r:6379', REDIS_USERNAME: 'u', REDIS_PASSWORD: PASSWORD }),
      ).toEqual([
        'REDIS_USERNAME: with REDIS_URL, put the user and password in the URL (redis://user:password@host:6379)',
        'REDIS_PASSWORD: with REDIS_URL, put the user and password in the URL (redis://user:password@host:6379)',
      ]);
    });

    it('REDIS_TLS with REDIS_URL (the scheme says it)', () => {
      expect(problems({ REDIS_URL: 'redis://r:6379', REDIS_TLS: 'true' })).toEqual([
        'REDIS_TLS: with REDIS_URL, use a rediss:// URL instead',
      ]);
    });

    it('REDIS_USERNAME without REDIS_PASSWORD', () => {
      expect(problems({ REDIS_CLUSTER_NODES: 'c1:6379', REDIS_USERNAME: 'u' })).toEqual([
        'REDIS_USERNAME: needs REDIS_PASSWORD',
      ]);
    });

    it('REDIS_TLS_CA_FILE without TLS', () => {
      const ca = files({ '/ca.pem': CA });
      expect(problems({ REDIS_URL: 'redis://r:6379', REDIS_TLS_CA_FILE: '/ca.pem' }, ca)).toEqual([
        'REDIS_TLS_CA_FILE: needs a rediss:// REDIS_URL',
      ]);
      expect(problems({ REDIS_CLUSTER_NODES: 'c:1', REDIS_TLS_CA_FILE: '/ca.pem' }, ca)).toEqual([
        'REDIS_TLS_CA_FILE: needs REDIS_TLS=true',
      ]);
    });
  });

  describe('REDIS_TLS_CA_FILE', () => {
    it('that cannot be read is a configuration error, not a TLS error later', () => {
      expect(problems({ REDIS_URL: 'rediss://r:6380', REDIS_TLS_CA_FILE: '/nope.pem' })).toEqual([
        'REDIS_TLS_CA_FILE: cannot read /nope.pem (ENOENT)',
      ]);
    });

    it('that holds no PEM certificate is a configuration error', () => {
      const key = files({ '/key.pem': '-----BEGIN PRIVATE KEY-----\n...' });
      expect(
        problems({ REDIS_URL: 'rediss://r:6380', REDIS_TLS_CA_FILE: '/key.pem' }, key),
      ).toEqual([
        'REDIS_TLS_CA_FILE: /key.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)',
      ]);
    });

    it('is reported in table order with the other problems', () => {
      expect(
        problems({
          PORT: 'x',
          REDIS_URL: 'rediss://r:6380',
          REDIS_TLS_CA_FILE: '/nope.pem',
          LOG_LEVEL: 'loud',
        }),
      ).toEqual([
        'PORT: must be an integer between 1 and 65535',
        'REDIS_TLS_CA_FILE: cannot read /nope.pem (ENOENT)',
        'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
      ]);
    });
  });
});
