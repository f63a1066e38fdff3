import { freePort } from '../../bench/procs';
import { Writable } from 'node:stream';
import { loadConfig } from '../../config/load-config';
import type { Config } from '../../config/types';
import { createLogger } from '../../server/core/logger';
import { startServer, type RunningServer } from '../../server/http/server';
import { createMetrics, type Metrics } from '../../server/core/metrics';
import type { SessionStore } from '../../server/stores/contract';
import { MemorySessionStore } from '../../server/stores/memory';
import { createTokenVault } from '../../server/session/token-vault';
import type { TokenSet } from '../../server/genesys/client';
import {
  startEmulator,
  type EmulatorUser,
  type GenesysEmulator,
} from '../../emulator/genesys-emulator';
import { BrowserClient, type ClientResponse } from './browser-client';

export const TEST_CLIENT_ID = 'tokens-bff-test-client';
export const TEST_CLIENT_SECRET = 'test-client-secret-value';
export const TEST_SESSION_SECRET = 'test-session-secret-0123456789abcdef-0123';

export { freePort };

export interface Harness {
  readonly emulator: GenesysEmulator;
  readonly server: RunningServer;
  readonly url: string;
  readonly config: Config;
  readonly store: SessionStore;
  readonly metrics: Metrics;
  /** Every JSON log line the gateway wrote. */
  readonly logs: string[];
  client(): BrowserClient;
  /** Logs `user` in through the emulator (auto-approve); resolves with the logged-in client. */
  login(
    user: EmulatorUser,
    options?: { client?: BrowserClient; returnTo?: string },
  ): Promise<BrowserClient>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Extra or overriding environment for loadConfig. */
  env?: Record<string, string>;
  /** Defaults to a memory store on the emulator's clock; may resolve later (a store that connects). */
  store?: (clock: () => number) => SessionStore | Promise<SessionStore>;
  /** Confidential client (default) or PKCE-only public client. */
  publicClient?: boolean;
  /** Start against this emulator instead of a new one (it is not closed by the harness). */
  emulator?: GenesysEmulator;
}

/** Starts the emulator and a listening gateway wired to it, on 127.0.0.1. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const emulator = options.emulator ?? (await startEmulator());
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  emulator.addClient({
    id: TEST_CLIENT_ID,
    ...(options.publicClient ? {} : { secret: TEST_CLIENT_SECRET }),
    name: 'tokens-bff tests',
    redirectUris: [`${url}/auth/callback`],
  });
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: url,
    GENESYS_API_BASE_URL: emulator.url,
    GENESYS_LOGIN_BASE_URL: emulator.url,
    OAUTH_CLIENT_ID: TEST_CLIENT_ID,
    ...(options.publicClient ? {} : { OAUTH_CLIENT_SECRET: TEST_CLIENT_SECRET }),
    SESSION_SECRET: TEST_SESSION_SECRET,
    SESSION_STORE: 'memory',
    UPSTREAM_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const clock = (): number => emulator.now();
  const store = (await options.store?.(clock)) ?? new MemorySessionStore({ clock });
  const metrics = createMetrics();
  const server = await startServer(
    config,
    { logger: createLogger(config.logLevel, sink), store, metrics, clock },
    { drainMs: 500 },
  );

  const login: Harness['login'] = async (user, opts = {}) => {
    const client = opts.client ?? new BrowserClient(url);
    emulator.autoApprove(user.id);
    const start = await client.get(
      `/auth/login${opts.returnTo ? `?returnTo=${encodeURIComponent(opts.returnTo)}` : ''}`,
    );
    if (start.status !== 302 || !start.location)
      throw new Error(`login: ${start.status} ${start.text}`);
    const authorize = await client.get(start.location);
    if (authorize.status !== 302 || !authorize.location) {
      throw new Error(`authorize: ${authorize.status} ${authorize.text}`);
    }
    const callback = await client.get(authorize.location);
    if (callback.status !== 302) throw new Error(`callback: ${callback.status} ${callback.text}`);
    return client;
  };

  return {
    emulator,
    server,
    url,
    config,
    store,
    metrics,
    logs,
    client: () => new BrowserClient(url),
    login,
    async close() {
      await server.stop();
      if (!options.emulator) await emulator.close();
    },
  };
}

/** A harness that `useHarness` starts and closes around the tests of a block. */
export interface HarnessHandle extends Harness {
  /** Closes the current harness and starts another in its place, which the block closes as usual. */
  restart(options?: HarnessOptions): Promise<void>;
}

/**
 * Starts a harness before each test of the enclosing block and closes it after (before and after
 * all of them with `shared`), in place of a `let h` and its beforeEach / afterEach. The handle
 * reads whichever harness is current, so tests use it like a Harness; after a test it still
 * reads that test's harness (its logs, its store) in later afterEach hooks.
 */
export function useHarness(
  options: HarnessOptions = {},
  lifecycle: { shared?: boolean } = {},
): HarnessHandle {
  let current: Harness | undefined;
  const now = (): Harness => {
    if (current === undefined) {
      throw new Error('useHarness: the harness was read before its hook started it');
    }
    return current;
  };
  const start = async (startOptions: HarnessOptions): Promise<void> => {
    current = undefined;
    current = await startHarness(startOptions);
  };
  const [before, after] = lifecycle.shared ? [beforeAll, afterAll] : [beforeEach, afterEach];
  before(() => start(options));
  after(() => current?.close());
  return {
    get emulator() {
      return now().emulator;
    },
    get server() {
      return now().server;
    },
    get url() {
      return now().url;
    },
    get config() {
      return now().config;
    },
    get store() {
      return now().store;
    },
    get metrics() {
      return now().metrics;
    },
    get logs() {
      return now().logs;
    },
    client: () => now().client(),
    login: (user, loginOptions) => now().login(user, loginOptions),
    close: () => now().close(),
    async restart(restartOptions = options) {
      await now().close();
      await start(restartOptions);
    },
  };
}

/**
 * The token sets the harness store holds for live sessions, opened with the gateway's own keys:
 * lets tests look for token bytes where they must never be (logs, bodies, the store file).
 */
export async function storedTokenSets(h: Harness): Promise<TokenSet[]> {
  const vault = createTokenVault(h.config.tokenEncryptionKeys);
  const sessions = await h.store.allSessions();
  return Object.values(sessions)
    .filter((s) => s.tokens !== undefined)
    .map((s) => JSON.parse(vault.open(s.tokens as string)) as TokenSet);
}

/** The Set-Cookie lines of an answer, only those of cookie `name` when given. */
export function setCookieLines(headers: Headers, name?: string): string[] {
  const lines = headers.getSetCookie();
  return name === undefined ? lines : lines.filter((line) => line.startsWith(`${name}=`));
}

/**
 * Seconds the session cookie set by this answer lives (its Max-Age, or Expires minus now: the
 * gateway's express-session writes Expires only), or undefined when the answer sets none.
 */
export function sessionMaxAge(h: Harness, res: ClientResponse): number | undefined {
  const line = res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${h.config.session.cookieName}=`));
  if (line === undefined) return undefined;
  const attrs = line.split(';').map((a) => a.trim());
  const maxAge = attrs.find((a) => /^max-age=/i.test(a));
  if (maxAge !== undefined) return Number(maxAge.slice(8));
  const expires = attrs.find((a) => /^expires=/i.test(a));
  if (expires === undefined) return undefined;
  // Expires is cut to whole seconds, so the difference is in (maxAge - 1, maxAge].
  return Math.ceil((Date.parse(expires.slice(8)) - Date.now()) / 1000);
}

/** A login taken as far as the emulator's redirect back: the callback has not been called yet. */
export interface PendingLogin {
  /** The gateway's redirect to {login}/oauth/authorize. */
  readonly authorizeUrl: URL;
  readonly state: string;
  /** This login's transaction cookie, as the gateway set it (scoped to /auth/callback). */
  readonly loginCookie: { readonly name: string; readonly value: string; readonly line: string };
  /** Where the emulator sends the browser back: `{gateway}/auth/callback?code&state`. */
  readonly callbackUrl: string;
}

/**
 * Starts a login in `client` and lets the emulator approve it for `user`, stopping short of the
 * callback, so tests can finish logins in any order, replay, tamper or wait first.
 */
export async function beginLogin(
  h: Harness,
  client: BrowserClient,
  user: EmulatorUser,
  options: { returnTo?: string } = {},
): Promise<PendingLogin> {
  const query =
    options.returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(options.returnTo)}`;
  const start = await client.get(`/auth/login${query}`);
  if (start.status !== 302 || !start.location) {
    throw new Error(`login: ${start.status} ${start.text}`);
  }
  const authorizeUrl = new URL(start.location);
  const state = authorizeUrl.searchParams.get('state') ?? '';
  const line = setCookieLines(start.headers).find((l) => /;\s*path=\/auth\/callback/i.test(l));
  if (line === undefined) throw new Error('login: no transaction cookie was set');
  const pair = line.slice(0, line.indexOf(';'));
  const eq = pair.indexOf('=');
  const loginCookie = { name: pair.slice(0, eq), value: pair.slice(eq + 1), line };
  h.emulator.autoApprove(user.id);
  const authorize = await client.get(authorizeUrl.toString());
  if (authorize.status !== 302 || !authorize.location) {
    throw new Error(`authorize: ${authorize.status} ${authorize.text}`);
  }
  return { authorizeUrl, state, loginCookie, callbackUrl: authorize.location };
}

/**
 * Re-registers the harness's OAuth client with this access-token lifetime (Genesys allows
 * 300–172800 s): tokens issued from now on expire that soon, so tests reach expiry and refresh
 * without moving the clock past the session's own idle timeout.
 */
export function setAccessTokenLifetime(h: Harness, seconds: number): void {
  h.emulator.addClient({
    id: h.config.oauth.clientId,
    ...(h.config.oauth.clientSecret !== undefined ? { secret: h.config.oauth.clientSecret } : {}),
    name: 'tokens-bff tests',
    redirectUris: [h.config.oauth.redirectUri],
    accessTokenLifetimeSeconds: seconds,
  });
}
