import { hkdfSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../config/config-error';
import { deriveTokenEncryptionKey, loadConfig } from '../config/load-config';
import { UNKNOWN_REGION_MESSAGE } from '../config/regions';
import type { Config } from '../config/types';

// Distinctive so that a leak into any message is unmistakable.
const SECRET = 'zebra-CANARY-7f3c-marmalade-0123456789';
const SECRET_2 = 'second-CANARY-secret-for-rotation-xyz';
const VALID = {
  PUBLIC_BASE_URL: 'https://app.example.com',
  OAUTH_CLIENT_ID: 'client-id',
  SESSION_SECRET: SECRET,
};
const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');

type Env = Record<string, string | undefined>;

const noFiles = (file: string): string => {
  throw new Error(`unexpected read of ${file}`);
};

/** Files for an injected reader; a missing one fails the way fs does. */
function files(contents: Record<string, string>): (file: string) => string {
  return (file) => {
    const content = contents[file];
    if (content === undefined) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), {
        code: 'ENOENT',
      });
    }
    return content;
  };
}

function load(overrides: Env = {}, readFile = noFiles): Config {
  return loadConfig({ ...VALID, ...overrides }, readFile);
}

/** The ConfigError loadConfig throws; without `readFile`, the real file system is read. */
function failure(env: Env, readFile?: (file: string) => string): ConfigError {
  try {
    loadConfig(env, readFile);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** The whole message for a VALID environment changed by `overrides`. */
function messageFor(overrides: Env, readFile = noFiles): string {
  return failure({ ...VALID, ...overrides }, readFile).message;
}

function only(line: string): string {
  return `Invalid configuration:\n  - ${line}`;
}

describe('loadConfig', () => {
  describe('defaults', () => {
    it('fills every optional variable with its documented default', () => {
      expect(load()).toEqual({
        port: 3000,
        host: '0.0.0.0',
        publicOrigin: 'https://app.example.com',
        secureCookies: true,
        genesys: {
          region: 'mypurecloud.com',
          apiBaseUrl: 'https://api.mypurecloud.com',
          loginBaseUrl: 'https://login.mypurecloud.com',
        },
        oauth: {
          clientId: 'client-id',
          clientSecret: undefined,
          redirectUri: 'https://app.example.com/auth/callback',
        },
        session: {
          secrets: [SECRET],
          store: 'sqlite',
          sqlitePath: './data/sessions.sqlite',
          redisUrl: undefined,
          idleTimeoutSeconds: 1800,
          absoluteTimeoutSeconds: 86400,
          warningSeconds: 120,
          maxEventStreams: 1000,
          cookieSameSite: 'strict',
          partitioned: false,
          cookieName: '__Host-Http-session',
        },
        tokenEncryptionKeys: [deriveTokenEncryptionKey(SECRET)],
        upstreamTimeoutMs: 10000,
        trustProxy: false,
        logLevel: 'info',
        adminEnabled: true,
        metricsPort: undefined,
        staticDir: undefined,
        idpLogout: false,
        shutdownDrainSeconds: 10,
      });
    });

    it('treats an empty variable as unset', () => {
      expect(load({ PORT: '', LOG_LEVEL: '', OAUTH_CLIENT_SECRET: '' })).toEqual(load());
    });

    it('ignores variables it does not know', () => {
      expect(load({ PATH: '/usr/bin', HOME: '/root', PORT_FILE: '/nope' })).toEqual(load());
    });

    it('reads only the env it is given, every time afresh', () => {
      expect(load({ PORT: '4000' }).port).toBe(4000);
      expect(load().port).toBe(3000);
    });
  });

  describe('required variables', () => {
    it('names every missing one in one message', () => {
      expect(failure({}).message).toBe(
        'Invalid configuration:\n' +
          '  - PUBLIC_BASE_URL: is required\n' +
          '  - OAUTH_CLIENT_ID: is required\n' +
          '  - SESSION_SECRET: is required',
      );
    });

    it('refuses a blank value', () => {
      expect(messageFor({ OAUTH_CLIENT_ID: '  ', HOST: ' ' })).toBe(
        'Invalid configuration:\n' +
          '  - HOST: must not be blank\n' +
          '  - OAUTH_CLIENT_ID: must not be blank',
      );
    });

    it('counts an empty value as missing', () => {
      expect(messageFor({ OAUTH_CLIENT_ID: '' })).toBe(only('OAUTH_CLIENT_ID: is required'));
    });
  });

  describe('one message for every problem', () => {
    it('reports all bad variables at once, in the order of the configuration table', () => {
      // Listed out of order on purpose: the message follows the configuration table, not the env.
      const error = failure({
        IDP_LOGOUT: 'maybe',
        SESSION_STORE: 'redis',
        SESSION_SECRET: 'short',
        PORT: 'eighty',
        PUBLIC_BASE_URL: 'http://app.example.com',
        GENESYS_REGION: 'mars_north_1',
        SESSION_IDLE_TIMEOUT_SECONDS: '7200',
        SESSION_ABSOLUTE_TIMEOUT_SECONDS: '3600',
        UPSTREAM_TIMEOUT_MS: '5',
        LOG_LEVEL: 'verbose',
        TOKEN_ENCRYPTION_KEY: 'not-a-key',
      });
      expect(error.message).toBe(
        [
          'Invalid configuration:',
          '  - PORT: must be an integer between 1 and 65535',
          '  - PUBLIC_BASE_URL: must use https unless the host is loopback (over plain http the session cookie would travel in clear)',
          `  - GENESYS_REGION: ${UNKNOWN_REGION_MESSAGE}`,
          '  - OAUTH_CLIENT_ID: is required',
          '  - SESSION_SECRET: each entry must be at least 32 characters (entry 1 has 5)',
          '  - TOKEN_ENCRYPTION_KEY: each entry must be base64 of exactly 32 bytes, e.g. from openssl rand -base64 32 (entry 1 is not)',
          '  - REDIS_URL: is required when SESSION_STORE=redis',
          '  - SESSION_IDLE_TIMEOUT_SECONDS: must not exceed SESSION_ABSOLUTE_TIMEOUT_SECONDS (7200 > 3600)',
          '  - UPSTREAM_TIMEOUT_MS: must be an integer between 100 and 120000',
          '  - LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
          '  - IDP_LOGOUT: must be true or false (1/0 and yes/no also work)',
        ].join('\n'),
      );
      expect(error.problems.map((p) => p.variable)).toEqual([
        'PORT',
        'PUBLIC_BASE_URL',
        'GENESYS_REGION',
        'OAUTH_CLIENT_ID',
        'SESSION_SECRET',
        'TOKEN_ENCRYPTION_KEY',
        'REDIS_URL',
        'SESSION_IDLE_TIMEOUT_SECONDS',
        'UPSTREAM_TIMEOUT_MS',
        'LOG_LEVEL',
        'IDP_LOGOUT',
      ]);
    });

    it('is a ConfigError named ConfigError, with problems as data', () => {
      const error = failure({ ...VALID, PORT: '0' });
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('ConfigError');
      expect(error.problems).toEqual([
        { variable: 'PORT', message: 'must be an integer between 1 and 65535' },
      ]);
    });
  });

  describe('secrets never appear in messages', () => {
    const CANARY = 'CANARY';
    const cases: [string, Env, (file: string) => string][] = [
      ['a too-short SESSION_SECRET', { SESSION_SECRET: `${SECRET},${CANARY}-short` }, noFiles],
      ['SESSION_SECRET given twice', { SESSION_SECRET_FILE: '/s' }, files({ '/s': SECRET })],
      [
        'OAUTH_CLIENT_SECRET given twice',
        { OAUTH_CLIENT_SECRET: `${CANARY}-client`, OAUTH_CLIENT_SECRET_FILE: '/c' },
        files({ '/c': `${CANARY}-file` }),
      ],
      ['a bad TOKEN_ENCRYPTION_KEY', { TOKEN_ENCRYPTION_KEY: `${KEY_A},${CANARY}==` }, noFiles],
      [
        'a bad REDIS_URL',
        { SESSION_STORE: 'redis', REDIS_URL: `http://user:${CANARY}@redis:6379` },
        noFiles,
      ],
      [
        'a too-short secret in a file',
        { SESSION_SECRET: undefined, SESSION_SECRET_FILE: '/s' },
        files({ '/s': `${CANARY}\n` }),
      ],
      [
        'a reader whose error message holds the content',
        { SESSION_SECRET: undefined, SESSION_SECRET_FILE: '/s' },
        () => {
          throw new Error(`parse error near ${CANARY}`);
        },
      ],
      [
        'credentials in PUBLIC_BASE_URL',
        { PUBLIC_BASE_URL: `https://admin:${CANARY}@app.example.com` },
        noFiles,
      ],
    ];

    it.each(cases)('with %s', (_name, overrides, readFile) => {
      const error = failure({ ...VALID, ...overrides }, readFile);
      const everything = `${String(error)}\n${error.stack ?? ''}\n${JSON.stringify(error.problems)}`;
      expect(everything).not.toContain(CANARY);
      expect(error.problems.length).toBeGreaterThan(0);
    });
  });

  describe('PORT and HOST', () => {
    it.each(['0', '65536', 'abc', '3.5', '-1', '1e3', '0x50'])('refuses PORT=%s', (port) => {
      expect(messageFor({ PORT: port })).toBe(only('PORT: must be an integer between 1 and 65535'));
    });

    it('accepts the bounds and surrounding spaces', () => {
      expect(load({ PORT: '1' }).port).toBe(1);
      expect(load({ PORT: ' 65535 ' }).port).toBe(65535);
    });

    it('takes HOST as given', () => {
      expect(load({ HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    });
  });

  describe('PUBLIC_BASE_URL', () => {
    it('is stored as an origin and derives the redirect URI and secure cookies', () => {
      const config = load({ PUBLIC_BASE_URL: 'https://App.Example.com:443/' });
      expect(config.publicOrigin).toBe('https://app.example.com');
      expect(config.oauth.redirectUri).toBe('https://app.example.com/auth/callback');
      expect(config.secureCookies).toBe(true);
      expect(config.session.cookieName).toBe('__Host-Http-session');
    });

    it('keeps a non-default port', () => {
      expect(load({ PUBLIC_BASE_URL: 'https://app.example.com:8443' }).publicOrigin).toBe(
        'https://app.example.com:8443',
      );
    });

    it.each([
      'http://localhost:3000',
      'http://127.0.0.1:8080',
      'http://127.1.2.3',
      'http://[::1]:3000',
    ])('allows plain http on loopback: %s', (url) => {
      const config = load({ PUBLIC_BASE_URL: url });
      expect(config.publicOrigin).toBe(url);
      expect(config.secureCookies).toBe(false);
      expect(config.session.cookieName).toBe('bff.sid');
      expect(config.oauth.redirectUri).toBe(`${url}/auth/callback`);
    });

    it.each([
      'http://app.example.com',
      'http://localhost.attacker.example',
      'http://127.0.0.1.nip.io',
      'http://10.0.0.5:3000',
    ])(
      'refuses plain http on a non-loopback host, which would leak the session cookie: %s',
      (url) => {
        expect(messageFor({ PUBLIC_BASE_URL: url })).toBe(
          only(
            'PUBLIC_BASE_URL: must use https unless the host is loopback (over plain http the session cookie would travel in clear)',
          ),
        );
      },
    );

    it.each(['app.example.com', '/relative', 'ftp://app.example.com', 'https://'])(
      'refuses a value that is not an absolute http(s) URL: %s',
      (url) => {
        expect(messageFor({ PUBLIC_BASE_URL: url })).toBe(
          only('PUBLIC_BASE_URL: must be an absolute http(s) URL, e.g. https://app.example.com'),
        );
      },
    );

    it.each([
      'https://app.example.com/app',
      'https://app.example.com/?x=1',
      'https://app.example.com?',
      'https://app.example.com/#top',
    ])('refuses a path, query or fragment: %s', (url) => {
      expect(messageFor({ PUBLIC_BASE_URL: url })).toBe(
        only(
          'PUBLIC_BASE_URL: must be an origin without path, query or fragment, e.g. https://app.example.com',
        ),
      );
    });

    it('refuses credentials in the URL', () => {
      expect(messageFor({ PUBLIC_BASE_URL: 'https://user:pw@app.example.com' })).toBe(
        only('PUBLIC_BASE_URL: must not contain credentials'),
      );
    });
  });

  describe('GENESYS_REGION and base URLs', () => {
    it('maps an SDK region key to its domain', () => {
      expect(load({ GENESYS_REGION: 'eu_west_1' }).genesys).toEqual({
        region: 'mypurecloud.ie',
        apiBaseUrl: 'https://api.mypurecloud.ie',
        loginBaseUrl: 'https://login.mypurecloud.ie',
      });
    });

    it('accepts a domain as is', () => {
      expect(load({ GENESYS_REGION: 'usw2.pure.cloud' }).genesys.apiBaseUrl).toBe(
        'https://api.usw2.pure.cloud',
      );
    });

    it('refuses an unknown region, listing what is accepted', () => {
      expect(messageFor({ GENESYS_REGION: 'mars_north_1' })).toBe(
        only(`GENESYS_REGION: ${UNKNOWN_REGION_MESSAGE}`),
      );
      expect(UNKNOWN_REGION_MESSAGE).toMatch(
        /^must be one of us_east_1, eu_west_1, .*, eusc_de_east_1 or a region domain such as mypurecloud\.com$/,
      );
    });

    it('lets the overrides win over the region, without a trailing slash', () => {
      const config = load({
        GENESYS_REGION: 'eu_central_1',
        GENESYS_API_BASE_URL: 'http://127.0.0.1:4010/',
        GENESYS_LOGIN_BASE_URL: 'https://login.proxy.example.com/genesys//',
      });
      expect(config.genesys).toEqual({
        region: 'mypurecloud.de',
        apiBaseUrl: 'http://127.0.0.1:4010',
        loginBaseUrl: 'https://login.proxy.example.com/genesys',
      });
    });

    it('overrides one base URL and derives the other', () => {
      const config = load({ GENESYS_API_BASE_URL: 'http://localhost:4010' });
      expect(config.genesys.apiBaseUrl).toBe('http://localhost:4010');
      expect(config.genesys.loginBaseUrl).toBe('https://login.mypurecloud.com');
    });

    it('refuses plain http to a remote Genesys, which would send tokens in clear', () => {
      expect(
        messageFor({
          GENESYS_API_BASE_URL: 'http://api.mypurecloud.com',
          GENESYS_LOGIN_BASE_URL: 'http://login.mypurecloud.com',
        }),
      ).toBe(
        'Invalid configuration:\n' +
          '  - GENESYS_API_BASE_URL: must use https unless the host is loopback (tokens would travel in clear)\n' +
          '  - GENESYS_LOGIN_BASE_URL: must use https unless the host is loopback (tokens would travel in clear)',
      );
    });

    it.each([
      ['api.mypurecloud.com', 'GENESYS_API_BASE_URL: must be an absolute http(s) URL'],
      [
        'https://api.mypurecloud.com/?a=1',
        'GENESYS_API_BASE_URL: must not have a query or fragment',
      ],
      ['https://u:p@api.mypurecloud.com', 'GENESYS_API_BASE_URL: must not contain credentials'],
    ])('refuses GENESYS_API_BASE_URL=%s', (url, line) => {
      expect(messageFor({ GENESYS_API_BASE_URL: url })).toBe(only(line));
    });
  });

  describe('OAuth client', () => {
    it('is public without a secret and confidential with one, kept verbatim', () => {
      expect(load().oauth.clientSecret).toBeUndefined();
      expect(load({ OAUTH_CLIENT_SECRET: ' s3cret ' }).oauth.clientSecret).toBe(' s3cret ');
    });
  });

  describe('SESSION_SECRET', () => {
    it('splits a comma list into trimmed entries, first one first', () => {
      expect(load({ SESSION_SECRET: ` ${SECRET} , ${SECRET_2}` }).session.secrets).toEqual([
        SECRET,
        SECRET_2,
      ]);
    });

    it('refuses an entry shorter than 32 characters, naming its position and length', () => {
      expect(messageFor({ SESSION_SECRET: `${SECRET},twelve-chars` })).toBe(
        only('SESSION_SECRET: each entry must be at least 32 characters (entry 2 has 12)'),
      );
    });

    it('names every short entry, an empty one too', () => {
      expect(messageFor({ SESSION_SECRET: `short,${SECRET},` })).toBe(
        only(
          'SESSION_SECRET: each entry must be at least 32 characters (entry 1 has 5, entry 3 has 0)',
        ),
      );
    });

    it('accepts exactly 32 characters', () => {
      expect(load({ SESSION_SECRET: 'x'.repeat(32) }).session.secrets).toEqual(['x'.repeat(32)]);
    });
  });

  describe('TOKEN_ENCRYPTION_KEY', () => {
    it('derives one key per SESSION_SECRET entry with HKDF-SHA256, in order', () => {
      const keys = load({ SESSION_SECRET: `${SECRET},${SECRET_2}` }).tokenEncryptionKeys;
      const expected = [SECRET, SECRET_2].map((secret) =>
        Buffer.from(hkdfSync('sha256', secret, 'tokens-bff', 'token-encryption-v1', 32)),
      );
      expect(keys).toEqual(expected);
      expect(keys.map((k) => k.length)).toEqual([32, 32]);
      expect(keys[0]?.equals(keys[1] as Buffer)).toBe(false);
    });

    it('uses the given base64 keys instead, in order', () => {
      const keys = load({ TOKEN_ENCRYPTION_KEY: ` ${KEY_A} ,${KEY_B}` }).tokenEncryptionKeys;
      expect(keys).toEqual([Buffer.alloc(32, 1), Buffer.alloc(32, 2)]);
    });

    it('accepts unpadded and url-safe base64', () => {
      const key = Buffer.alloc(32, 0xfb);
      const urlSafe = key.toString('base64url');
      expect(load({ TOKEN_ENCRYPTION_KEY: urlSafe }).tokenEncryptionKeys).toEqual([key]);
    });

    it('refuses a key that is not 32 bytes, naming its position only', () => {
      const short = Buffer.alloc(16, 7).toString('base64');
      expect(messageFor({ TOKEN_ENCRYPTION_KEY: `${KEY_A},${short}` })).toBe(
        only(
          'TOKEN_ENCRYPTION_KEY: each entry must be base64 of exactly 32 bytes, e.g. from openssl rand -base64 32 (entry 2 is not)',
        ),
      );
    });

    it('names every bad entry', () => {
      expect(messageFor({ TOKEN_ENCRYPTION_KEY: `not base64!,${KEY_A},${KEY_A}xx` })).toBe(
        only(
          'TOKEN_ENCRYPTION_KEY: each entry must be base64 of exactly 32 bytes, e.g. from openssl rand -base64 32 (entries 1 and 3 are not)',
        ),
      );
    });
  });

  describe('secrets from NAME_FILE', () => {
    it('reads each secret from its file, trimming one trailing newline', () => {
      const config = loadConfig(
        {
          PUBLIC_BASE_URL: 'https://app.example.com',
          OAUTH_CLIENT_ID: 'client-id',
          OAUTH_CLIENT_SECRET_FILE: '/run/secrets/client',
          SESSION_SECRET_FILE: '/run/secrets/session',
          TOKEN_ENCRYPTION_KEY_FILE: '/run/secrets/key',
          SESSION_STORE: 'redis',
          REDIS_URL_FILE: '/run/secrets/redis',
        },
        files({
          '/run/secrets/client': 'client-secret\n',
          '/run/secrets/session': `${SECRET}\r\n`,
          '/run/secrets/key': `${KEY_A}\n`,
          '/run/secrets/redis': 'rediss://:pw@redis.internal:6380\n',
        }),
      );
      expect(config.oauth.clientSecret).toBe('client-secret');
      expect(config.session.secrets).toEqual([SECRET]);
      expect(config.tokenEncryptionKeys).toEqual([Buffer.alloc(32, 1)]);
      expect(config.session.redisUrl).toBe('rediss://:pw@redis.internal:6380');
    });

    it('trims exactly one newline, no more', () => {
      const config = load({ OAUTH_CLIENT_SECRET_FILE: '/c' }, files({ '/c': 'client-secret\n\n' }));
      expect(config.oauth.clientSecret).toBe('client-secret\n');
    });

    it('keeps a file without a trailing newline as is', () => {
      expect(
        load({ OAUTH_CLIENT_SECRET_FILE: '/c' }, files({ '/c': 'abc ' })).oauth.clientSecret,
      ).toBe('abc ');
    });

    it('refuses NAME and NAME_FILE together', () => {
      expect(messageFor({ SESSION_SECRET_FILE: '/s' }, files({ '/s': SECRET }))).toBe(
        only('SESSION_SECRET: set either SESSION_SECRET or SESSION_SECRET_FILE, not both'),
      );
    });

    it('names NAME_FILE and the path when the file cannot be read', () => {
      expect(
        messageFor(
          { SESSION_SECRET: undefined, SESSION_SECRET_FILE: '/run/secrets/missing' },
          files({}),
        ),
      ).toBe(only('SESSION_SECRET_FILE: cannot read /run/secrets/missing (ENOENT)'));
    });

    it('reads real files by default', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-config-'));
      try {
        const file = path.join(dir, 'session-secret');
        fs.writeFileSync(file, `${SECRET}\n`);
        const env = { ...VALID, SESSION_SECRET: undefined, SESSION_SECRET_FILE: file };
        expect(loadConfig(env).session.secrets).toEqual([SECRET]);
        const missing = path.join(dir, 'missing');
        expect(failure({ ...env, SESSION_SECRET_FILE: missing }).message).toBe(
          only(`SESSION_SECRET_FILE: cannot read ${missing} (ENOENT)`),
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses an empty file', () => {
      expect(
        messageFor({ SESSION_SECRET: undefined, SESSION_SECRET_FILE: '/s' }, files({ '/s': '\n' })),
      ).toBe(only('SESSION_SECRET_FILE: /s is empty'));
    });

    it('reports a bad value from a file under NAME_FILE', () => {
      expect(
        messageFor(
          { SESSION_SECRET: undefined, SESSION_SECRET_FILE: '/s' },
          files({ '/s': 'too-short\n' }),
        ),
      ).toBe(
        only('SESSION_SECRET_FILE: each entry must be at least 32 characters (entry 1 has 9)'),
      );
    });

    it('does not read NAME_FILE for a variable that is not a secret', () => {
      expect(load({ LOG_LEVEL_FILE: '/l' }).logLevel).toBe('info');
    });
  });

  describe('session store', () => {
    it.each(['sqlite', 'memory', 'SQLite'])('accepts SESSION_STORE=%s', (store) => {
      expect(load({ SESSION_STORE: store }).session.store).toBe(store.toLowerCase());
    });

    it('uses redis with a redis:// or rediss:// URL', () => {
      const config = load({ SESSION_STORE: 'redis', REDIS_URL: 'redis://redis:6379/0' });
      expect(config.session.store).toBe('redis');
      expect(config.session.redisUrl).toBe('redis://redis:6379/0');
      expect(load({ SESSION_STORE: 'redis', REDIS_URL: 'rediss://r:6380' }).session.redisUrl).toBe(
        'rediss://r:6380',
      );
    });

    it('requires REDIS_URL when SESSION_STORE=redis', () => {
      expect(messageFor({ SESSION_STORE: 'redis' })).toBe(
        only('REDIS_URL: is required when SESSION_STORE=redis'),
      );
    });

    it.each(['http://redis:6379', 'redis', 'localhost:6379'])('refuses REDIS_URL=%s', (url) => {
      expect(messageFor({ SESSION_STORE: 'redis', REDIS_URL: url })).toBe(
        only('REDIS_URL: must be a redis:// or rediss:// URL'),
      );
    });

    it('refuses an unknown store', () => {
      expect(messageFor({ SESSION_STORE: 'postgres' })).toBe(
        only('SESSION_STORE: must be one of sqlite, redis, memory'),
      );
    });

    it('takes SESSION_SQLITE_PATH as given', () => {
      expect(load({ SESSION_SQLITE_PATH: '/var/lib/bff/s.db' }).session.sqlitePath).toBe(
        '/var/lib/bff/s.db',
      );
    });
  });

  describe('session timeouts', () => {
    it.each(['0', '-5', 'abc', '1.5', '99999999999999999999'])(
      'refuses SESSION_IDLE_TIMEOUT_SECONDS=%s',
      (value) => {
        expect(messageFor({ SESSION_IDLE_TIMEOUT_SECONDS: value })).toBe(
          only('SESSION_IDLE_TIMEOUT_SECONDS: must be a positive integer'),
        );
      },
    );

    it('refuses a bad absolute timeout', () => {
      expect(messageFor({ SESSION_WARNING_SECONDS: '5' })).toBe(
        only('SESSION_WARNING_SECONDS: must be an integer between 10 and 3600'),
      );
      expect(messageFor({ EVENTS_MAX_STREAMS: '0' })).toBe(
        only('EVENTS_MAX_STREAMS: must be an integer between 1 and 100000'),
      );
      expect(messageFor({ SESSION_ABSOLUTE_TIMEOUT_SECONDS: '0' })).toBe(
        only('SESSION_ABSOLUTE_TIMEOUT_SECONDS: must be a positive integer'),
      );
    });

    it('refuses an idle timeout longer than the absolute one', () => {
      expect(
        messageFor({
          SESSION_IDLE_TIMEOUT_SECONDS: '7200',
          SESSION_ABSOLUTE_TIMEOUT_SECONDS: '3600',
        }),
      ).toBe(
        only(
          'SESSION_IDLE_TIMEOUT_SECONDS: must not exceed SESSION_ABSOLUTE_TIMEOUT_SECONDS (7200 > 3600)',
        ),
      );
    });

    it('compares against the default absolute timeout too', () => {
      expect(messageFor({ SESSION_IDLE_TIMEOUT_SECONDS: '90000' })).toBe(
        only(
          'SESSION_IDLE_TIMEOUT_SECONDS: must not exceed SESSION_ABSOLUTE_TIMEOUT_SECONDS (90000 > 86400)',
        ),
      );
    });

    it('accepts equal timeouts', () => {
      const session = load({
        SESSION_IDLE_TIMEOUT_SECONDS: '600',
        SESSION_ABSOLUTE_TIMEOUT_SECONDS: '600',
      }).session;
      expect([session.idleTimeoutSeconds, session.absoluteTimeoutSeconds]).toEqual([600, 600]);
    });
  });

  describe('SESSION_COOKIE_SAMESITE', () => {
    it.each([
      ['Lax', 'lax'],
      ['STRICT', 'strict'],
    ])('reads %s case-insensitively', (value, expected) => {
      expect(load({ SESSION_COOKIE_SAMESITE: value }).session.cookieSameSite).toBe(expected);
    });

    it('refuses None, which would send the session cookie on cross-site requests', () => {
      expect(messageFor({ SESSION_COOKIE_SAMESITE: 'none' })).toBe(
        only('SESSION_COOKIE_SAMESITE: must be one of strict, lax'),
      );
    });
  });

  describe('UPSTREAM_TIMEOUT_MS', () => {
    it('accepts the bounds', () => {
      expect(load({ UPSTREAM_TIMEOUT_MS: '100' }).upstreamTimeoutMs).toBe(100);
      expect(load({ UPSTREAM_TIMEOUT_MS: '120000' }).upstreamTimeoutMs).toBe(120000);
    });

    it.each(['99', '120001', 'ten'])('refuses %s', (value) => {
      expect(messageFor({ UPSTREAM_TIMEOUT_MS: value })).toBe(
        only('UPSTREAM_TIMEOUT_MS: must be an integer between 100 and 120000'),
      );
    });
  });

  describe('TRUST_PROXY', () => {
    it.each<[string, boolean | number | string]>([
      ['true', true],
      ['FALSE', false],
      ['0', 0],
      ['1', 1],
      ['2', 2],
      ['loopback', 'loopback'],
      ['Loopback, linklocal ,uniquelocal', 'loopback,linklocal,uniquelocal'],
      ['10.0.0.0/8, 192.168.1.1', '10.0.0.0/8,192.168.1.1'],
      ['fd00::/8,::1', 'fd00::/8,::1'],
      ['10.0.0.0/255.0.0.0', '10.0.0.0/255.0.0.0'],
    ])('reads %s', (value, expected) => {
      expect(load({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
    });

    it.each([
      ['yes', 'entry 1 is'],
      ['-1', 'entry 1 is'],
      ['10.0.0.0/33', 'entry 1 is'],
      ['loopback,proxy.example.com', 'entry 2 is'],
      ['10.0.0.1/8/8,::1/129', 'entries 1 and 2 are'],
    ])('refuses %s', (value, which) => {
      expect(messageFor({ TRUST_PROXY: value })).toBe(
        only(
          `TRUST_PROXY: must be true, false, a hop count, or a comma list of IP addresses, CIDR ranges, loopback, linklocal or uniquelocal (${which} not)`,
        ),
      );
    });
  });

  describe('LOG_LEVEL', () => {
    it('reads a level case-insensitively', () => {
      expect(load({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
      expect(load({ LOG_LEVEL: 'silent' }).logLevel).toBe('silent');
    });

    it('refuses an unknown level', () => {
      expect(messageFor({ LOG_LEVEL: 'verbose' })).toBe(
        only('LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent'),
      );
    });
  });

  describe('booleans (ADMIN_ENABLED, IDP_LOGOUT)', () => {
    it.each(['true', 'TRUE', '1', 'yes', 'Yes'])('reads %s as true', (value) => {
      expect(load({ IDP_LOGOUT: value }).idpLogout).toBe(true);
      expect(load({ ADMIN_ENABLED: value }).adminEnabled).toBe(true);
    });

    it.each(['false', 'False', '0', 'no', 'NO'])('reads %s as false', (value) => {
      expect(load({ IDP_LOGOUT: value }).idpLogout).toBe(false);
      expect(load({ ADMIN_ENABLED: value }).adminEnabled).toBe(false);
    });

    it.each(['on', 'enabled', '2'])('refuses %s', (value) => {
      expect(messageFor({ ADMIN_ENABLED: value, IDP_LOGOUT: value })).toBe(
        'Invalid configuration:\n' +
          '  - ADMIN_ENABLED: must be true or false (1/0 and yes/no also work)\n' +
          '  - IDP_LOGOUT: must be true or false (1/0 and yes/no also work)',
      );
    });
  });

  describe('METRICS_PORT and STATIC_DIR', () => {
    it('are unset by default and taken when given', () => {
      const config = load({ METRICS_PORT: '9464', STATIC_DIR: './public' });
      expect(config.metricsPort).toBe(9464);
      expect(config.staticDir).toBe('./public');
    });

    it('refuses a metrics port out of range', () => {
      expect(messageFor({ METRICS_PORT: '70000' })).toBe(
        only('METRICS_PORT: must be an integer between 1 and 65535'),
      );
    });

    it('refuses a metrics port equal to PORT', () => {
      expect(messageFor({ METRICS_PORT: '3000' })).toBe(
        only('METRICS_PORT: must differ from PORT (both are 3000)'),
      );
      expect(messageFor({ PORT: '8080', METRICS_PORT: '8080' })).toBe(
        only('METRICS_PORT: must differ from PORT (both are 8080)'),
      );
    });

    it('does not compare against a PORT that is itself bad', () => {
      expect(messageFor({ PORT: '70000', METRICS_PORT: '70000' })).toBe(
        'Invalid configuration:\n' +
          '  - PORT: must be an integer between 1 and 65535\n' +
          '  - METRICS_PORT: must be an integer between 1 and 65535',
      );
    });
  });

  describe('SHUTDOWN_DRAIN_SECONDS', () => {
    it('accepts the bounds', () => {
      expect(load({ SHUTDOWN_DRAIN_SECONDS: '1' }).shutdownDrainSeconds).toBe(1);
      expect(load({ SHUTDOWN_DRAIN_SECONDS: ' 300 ' }).shutdownDrainSeconds).toBe(300);
    });

    it.each(['0', '301', '1.5', '-5', 'ten', '10s'])('refuses %s', (value) => {
      expect(messageFor({ SHUTDOWN_DRAIN_SECONDS: value })).toBe(
        only('SHUTDOWN_DRAIN_SECONDS: must be an integer between 1 and 300'),
      );
    });
  });

  describe('the returned Config', () => {
    it('is frozen all the way down', () => {
      const config = load({ SESSION_SECRET: `${SECRET},${SECRET_2}` });
      for (const part of [
        config,
        config.genesys,
        config.oauth,
        config.session,
        config.session.secrets,
        config.tokenEncryptionKeys,
      ]) {
        expect(Object.isFrozen(part)).toBe(true);
      }
      expect(() => {
        (config as { port: number }).port = 1;
      }).toThrow(TypeError);
      expect(() => {
        (config.session.secrets as string[]).push('x');
      }).toThrow(TypeError);
    });
  });
});

describe('EMBED_ORIGINS', () => {
  it('is unset by default: only the app itself may frame it', () => {
    expect(load().embedOrigins).toBeUndefined();
  });

  it('takes https origins, and genesys for the region app origin', () => {
    expect(
      load({
        GENESYS_REGION: 'mypurecloud.ie',
        EMBED_ORIGINS: 'genesys, https://widgets.example.com/ ,https://a.example.com:8443',
      }).embedOrigins,
    ).toEqual([
      'https://apps.mypurecloud.ie',
      'https://widgets.example.com',
      'https://a.example.com:8443',
    ]);
  });

  it('takes plain http on loopback only (the demo frames the app from a second local origin)', () => {
    expect(load({ EMBED_ORIGINS: 'http://localhost:3001' }).embedOrigins).toEqual([
      'http://localhost:3001',
    ]);
  });

  it('makes every cookie Secure, SameSite=None and partitioned, with the __Host-Http- name, even on http loopback', () => {
    const config = load({ PUBLIC_BASE_URL: 'http://127.0.0.1:3000', EMBED_ORIGINS: 'genesys' });
    expect(config.secureCookies).toBe(true);
    expect(config.session).toMatchObject({
      cookieName: '__Host-Http-session',
      cookieSameSite: 'none',
      partitioned: true,
    });
    expect(load({ PUBLIC_BASE_URL: 'http://127.0.0.1:3000' }).session).toMatchObject({
      cookieName: 'bff.sid',
      cookieSameSite: 'strict',
      partitioned: false,
    });
  });

  it.each([
    ['plain http', 'http://apps.example.com'],
    ['a wildcard', 'https://*.example.com'],
    ['a path', 'https://apps.example.com/app'],
    ['a query', 'https://apps.example.com?x=1'],
    ['credentials', 'https://user:pw@apps.example.com'],
    ['a bare word', 'example.com'],
    ['an empty entry', 'https://a.example.com,,https://b.example.com'],
  ])('refuses %s', (_name, value) => {
    expect(messageFor({ EMBED_ORIGINS: value })).toMatch(
      /^Invalid configuration:\n {2}- EMBED_ORIGINS: (entry|entries) [\d, and]+: each entry must be an https origin without path or wildcard/,
    );
  });
});
