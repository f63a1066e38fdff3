/**
 * The tokens-bff browser client: one ES module, no dependencies, served by the gateway at
 * /bff/client-v1.js (docs/frontend.md).
 *
 *   import { createBff } from '/bff/client-v1.js';
 *   const bff = createBff();
 *   bff.on('ended', ({ reason }) => bff.login());
 *   const me = await bff.user();
 *
 * Every tab of the origin shares ONE `GET /session/events` stream: the tabs elect a leader (the
 * holder of a Web Lock; without the Web Locks API, by heartbeats on the BroadcastChannel), the
 * leader holds the EventSource and passes what it hears to the others on a BroadcastChannel, and
 * when the leader tab closes another one takes the lock and opens the stream.
 *
 * In a frame (a Genesys Cloud client app, docs/embedded.md), `login()` opens the login in a
 * popup and hands the session over to the frame; everything else works as on a page of its own.
 */

/** What `GET /session/user` answers: who is logged in and when the session ends. */
export interface SessionUser {
  user: { id: string; name: string };
  session: {
    createdAt: string;
    /** The earliest of the deadlines that apply. */
    expiresAt: string;
    idleExpiresAt: string;
    absoluteExpiresAt: string;
  };
  token: { expiresAt: string; refreshable: boolean; idlesAt: string | null };
}

/** One of the user's live sessions, as `GET /session/all` lists them. */
export interface SessionSummary {
  handle: string;
  createdAt: string;
  lastSeenAt: string;
  userAgent: string;
  current: boolean;
}

/**
 * Why a session ended: the gateway's reasons, or `unauthenticated` when the client learnt it from
 * a 401 (no event said why).
 */
export type EndReason =
  | 'logout'
  | 'revoked'
  | 'expired'
  | 'upstream_401'
  | 'refresh_failed'
  | 'replaced'
  | 'unreadable'
  | 'unauthenticated';

export interface EndedEvent {
  reason: EndReason;
}

export interface ExpiringEvent {
  expiresAt: string;
  kind: 'idle' | 'absolute' | 'token';
}

/** This tab's part in the shared stream. */
export interface StreamStatus {
  /** This tab holds the stream for every tab of the origin. */
  leader: boolean;
  /** The leader's stream is open (as far as this tab knows). */
  connected: boolean;
}

export interface BffEvents {
  /** The session ended (here, in another tab, on another device, at Genesys): once per session. */
  ended: EndedEvent;
  /** The session's earliest deadline is near (the gateway's SESSION_WARNING_SECONDS). */
  expiring: ExpiringEvent;
  /** Fresh identity and deadlines, learnt by this tab or another one. */
  user: SessionUser;
  /** The stream opened or closed, or this tab became or stopped being the leader. */
  stream: StreamStatus;
}

export interface BffOptions {
  /** Path prefix of the gateway's routes on this origin; default '' (the gateway is the origin). */
  base?: string;
  /** Join the shared event stream; default true. Without it `ended` comes only from this tab. */
  events?: boolean;
  /** The BroadcastChannel and Web Lock names; tabs with the same name share a stream. */
  channel?: string;
  /** Reconnect backoff: the first delay and the cap, in ms (defaults 1000 and 30000). */
  reconnect?: { initialMs?: number; maxMs?: number };
}

/** An answer other than the one the call expects; `problem` is the gateway's problem+json. */
export class BffError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;
  constructor(status: number, problem: Problem | undefined) {
    super(problem?.detail ?? `the gateway answered ${status}`);
    this.name = 'BffError';
    this.status = status;
    this.problem = problem;
  }
}

/** RFC 9457, with the members the gateway adds. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  requestId?: string;
  errors?: { field: string; message: string }[];
  [member: string]: unknown;
}

export interface Bff {
  /** `GET /session/user`: who is logged in, or null without a session. */
  user(options?: { preserveIdleTTL?: boolean }): Promise<SessionUser | null>;
  /** fetch() on the gateway's origin with `X-CSRF: 1`; a 401 answer fires `ended`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /**
   * `HEAD /session`: true while the session and its token live. It counts as activity (keeps the
   * user logged in) unless `preserveIdleTTL` is true.
   */
  verify(options?: { preserveIdleTTL?: boolean }): Promise<boolean>;
  /**
   * Logs in, back to `returnTo` (default: this page) afterwards. On a page of its own it sends
   * the browser to the login (the promise never settles: the page goes away). In a frame it opens
   * the login in a popup (call it from a click, or the browser may block the popup) and resolves
   * once the frame's own session is live; it rejects with a BffError when the popup is blocked,
   * closed before the login finished, or the handoff is refused.
   */
  login(returnTo?: string): Promise<void>;
  /** Whether this page runs in a frame (embedded, e.g. in Genesys Cloud): login goes through a popup. */
  readonly embedded: boolean;
  /** `DELETE /session`, then `ended` (`logout`) in every tab. */
  logout(): Promise<void>;
  /** `GET /session/all`: the user's live sessions. */
  sessions(): Promise<SessionSummary[]>;
  /** `DELETE /session/all/:handle`: ends one of the user's sessions (BffError 404 if unknown). */
  endSession(handle: string): Promise<void>;
  /** `DELETE /session/others`: ends every session of the user but this one. */
  endOthers(): Promise<void>;
  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof BffEvents>(event: K, listener: (data: BffEvents[K]) => void): () => void;
  /** This tab's part in the shared stream, now. */
  readonly status: StreamStatus;
  /** Leaves the shared stream (another tab takes it over) and drops every listener. */
  close(): void;
}

/** What the tabs tell each other on the BroadcastChannel. */
type Message =
  | { type: 'ended'; reason: EndReason }
  | { type: 'expiring'; event: ExpiringEvent }
  | { type: 'user'; user: SessionUser }
  | { type: 'alive' }
  | { type: 'stream'; connected: boolean }
  | { type: 'hello' }
  | { type: 'heartbeat' | 'claim' | 'bye'; id: string; connected?: boolean };

/** The heartbeat election (no Web Locks): beat period, silence before a claim, claim window. */
const BEAT_MS = 1000;
const SILENCE_MS = 3500;
const CLAIM_MS = 300;
/** A stream open this long resets the backoff (heartbeats are comments: EventSource hides them). */
const STABLE_MS = 10_000;

const ENDED_REASONS: readonly string[] = [
  'logout',
  'revoked',
  'expired',
  'upstream_401',
  'refresh_failed',
  'replaced',
  'unreadable',
];

/** The popup's size: room for the Genesys login page. */
const POPUP_FEATURES = 'popup,width=520,height=680';
/** How often the frame looks whether the popup was closed before it answered. */
const POPUP_POLL_MS = 400;
/** How long a late message may still arrive once the popup is seen closed. */
const POPUP_CLOSE_GRACE_MS = 1000;

/**
 * The context Genesys Cloud passes a client app in its URL (`gcHostOrigin`, `gcTargetEnv`,
 * `gcLangTag`, `gcConversationId`, ...: whatever the app's URL template asks for). For display and
 * for calls the app makes; never for a security decision: anyone can open the page with any query.
 * The gateway decides who may frame the app (EMBED_ORIGINS), not these values.
 */
export function genesysContext(search: string = location.search): Readonly<Record<string, string>> {
  const context: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(search)) {
    if (/^gc[A-Z][A-Za-z]{0,40}$/.test(key) && value.length <= 512 && !(key in context)) {
      context[key] = value;
    }
  }
  return Object.freeze(context);
}

/** Whether this window is a frame: a cross-origin parent answers `top` but not its location. */
function inFrame(): boolean {
  try {
    return window.self !== window.top;
  } catch {
    return true;
  }
}

/** A failure of the popup itself, not of a gateway answer. */
function popupError(title: string, detail: string): BffError {
  return new BffError(0, { type: 'about:blank', title, detail });
}

function isPath(path: string): boolean {
  return path.startsWith('/') && !path.startsWith('//') && !path.includes('\\');
}

function parse(data: unknown): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(String(data));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

async function problemOf(res: Response): Promise<Problem | undefined> {
  try {
    return (await res.json()) as Problem;
  } catch {
    return undefined;
  }
}

/** A listener that throws must not stop the others: its error is reported, not swallowed. */
function report(err: unknown): void {
  setTimeout(() => {
    throw err;
  });
}

/** Creates a client. One per page is enough; every one joins the shared stream. */
export function createBff(options: BffOptions = {}): Bff {
  const base = options.base ?? '';
  const name = options.channel ?? 'tokens-bff';
  const initialMs = options.reconnect?.initialMs ?? 1000;
  const maxMs = options.reconnect?.maxMs ?? 30_000;
  const listeners: { [K in keyof BffEvents]: Set<(data: BffEvents[K]) => void> } = {
    ended: new Set(),
    expiring: new Set(),
    user: new Set(),
    stream: new Set(),
  };
  const id = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const channel =
    options.events !== false && typeof BroadcastChannel === 'function'
      ? new BroadcastChannel(name)
      : undefined;

  // What this tab knows of the session: `out` once it ended, until a tab sees it (or a new one) live.
  let session: 'unknown' | 'live' | 'out' = 'unknown';
  let leader = false;
  let connected = false;
  let closed = false;

  function emit<K extends keyof BffEvents>(event: K, data: BffEvents[K]): void {
    for (const listener of [...listeners[event]]) {
      try {
        listener(data);
      } catch (err) {
        report(err);
      }
    }
  }

  function post(message: Message): void {
    if (!closed) channel?.postMessage(message);
  }

  function setStatus(next: Partial<StreamStatus>): void {
    const was = { leader, connected };
    leader = next.leader ?? leader;
    connected = next.connected ?? connected;
    if (was.leader !== leader || was.connected !== connected) emit('stream', { leader, connected });
  }

  // --- the session's state, shared by the tabs --------------------------------------------------

  /** The session ended: once per session, in this tab and (unless it heard it from one) the others. */
  function ended(reason: EndReason, fromAnotherTab = false): void {
    if (session === 'out' || closed) return;
    session = 'out';
    stopStream();
    if (!fromAnotherTab) post({ type: 'ended', reason });
    emit('ended', { reason });
  }

  /** A session lives (this tab saw a 2xx, or another tab said so): the leader opens the stream. */
  function alive(user?: SessionUser, fromAnotherTab = false): void {
    const was = session;
    session = 'live';
    if (user !== undefined) {
      if (!fromAnotherTab) post({ type: 'user', user });
      emit('user', user);
    } else if (was !== 'live' && !fromAnotherTab) {
      post({ type: 'alive' });
    }
    if (was !== 'live') startStream();
  }

  /** A 401 without an event: the session is gone. Quiet when this tab never saw it live. */
  function unauthenticated(quietUnlessLive: boolean): void {
    if (quietUnlessLive && session !== 'live') {
      session = 'out';
      stopStream();
      return;
    }
    ended('unauthenticated');
  }

  // --- the stream, held by the leader ---------------------------------------------------------

  let source: EventSource | undefined;
  let lastExpiring = '';
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;

  function startStream(): void {
    if (!leader || closed || session === 'out' || source !== undefined) return;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    const es = new EventSource(`${base}/session/events`);
    source = es;
    es.addEventListener('open', () => {
      setStatus({ connected: true });
      post({ type: 'stream', connected: true });
      stableTimer = setTimeout(() => (attempt = 0), STABLE_MS);
    });
    es.addEventListener('ended', (ev) => {
      const reason = parse(ev.data).reason;
      stopStream();
      ended(
        typeof reason === 'string' && ENDED_REASONS.includes(reason)
          ? (reason as EndReason)
          : 'unauthenticated',
      );
    });
    es.addEventListener('expiring', (ev) => {
      const data = parse(ev.data);
      const event = { expiresAt: String(data.expiresAt), kind: data.kind } as ExpiringEvent;
      // Once per deadline, though a reopened stream may announce it again.
      if (`${event.kind} ${event.expiresAt}` === lastExpiring) return;
      lastExpiring = `${event.kind} ${event.expiresAt}`;
      post({ type: 'expiring', event });
      emit('expiring', event);
    });
    // A dropped stream, a refusal (401, 429) or a gateway going away all look the same here:
    // EventSource shows no status. Our own backoff, not EventSource's fixed retry, and a probe
    // before reopening that tells a dead session from a dead connection.
    es.addEventListener('error', () => {
      stopStream();
      scheduleReconnect();
    });
  }

  function stopStream(): void {
    clearTimeout(stableTimer);
    clearTimeout(retryTimer);
    retryTimer = undefined;
    if (source !== undefined) {
      source.close();
      source = undefined;
      if (connected) post({ type: 'stream', connected: false });
    }
    setStatus({ connected: false });
  }

  /** Full jitter under a capped exponential: tabs of many browsers do not come back in step. */
  function backoff(): number {
    const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
    attempt += 1;
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  function scheduleReconnect(): void {
    if (!leader || closed || session === 'out' || retryTimer !== undefined) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      // preserveIdleTTL: a reconnecting stream must not keep an idle user logged in.
      request(`/session/user?preserveIdleTTL=true`, { method: 'GET' }).then(
        async (res) => {
          if (!leader || closed || session === 'out') return;
          if (res.status === 401) return unauthenticated(true);
          if (res.ok) {
            alive((await res.json()) as SessionUser);
            startStream();
          } else scheduleReconnect();
        },
        () => scheduleReconnect(),
      );
    }, backoff());
  }

  // --- leader election --------------------------------------------------------------------------

  let releaseLock: (() => void) | undefined;
  const abortLock = typeof AbortController === 'function' ? new AbortController() : undefined;
  let lastBeat = 0;
  let claimTimer: ReturnType<typeof setTimeout> | undefined;
  let beatTimer: ReturnType<typeof setInterval> | undefined;

  function lead(): void {
    if (closed) return;
    // `connected` was the old leader's stream, which a closed tab never reports closed: this
    // tab's own stream is not open until its EventSource says so.
    setStatus({ leader: true, connected: false });
    startStream();
  }

  function resign(): void {
    stopStream();
    setStatus({ leader: false });
  }

  function elect(): void {
    const locks = typeof navigator === 'object' ? navigator.locks : undefined;
    if (channel === undefined) {
      // Nobody to share with: this tab holds its own stream.
      lead();
    } else if (locks !== undefined && typeof locks.request === 'function') {
      // Held until this tab closes (the browser releases it) or close() resolves it; the next
      // tab in the queue is then granted it and takes over.
      locks
        .request(`${name}:events`, { signal: abortLock?.signal }, () =>
          closed
            ? undefined
            : new Promise<void>((release) => {
                releaseLock = release;
                lead();
              }),
        )
        .catch(() => undefined);
    } else {
      // No Web Locks: the lowest id among the claimants leads and beats; silence starts a claim.
      beatTimer = setInterval(() => {
        // Each beat also says whether the stream is open: a tab that resigned after a raced
        // election said "closed" for its own stream, and the next beat puts that right.
        if (leader) post({ type: 'heartbeat', id, connected });
        else if (Date.now() - lastBeat > SILENCE_MS) claim();
      }, BEAT_MS);
      claim();
    }
  }

  function claim(): void {
    if (claimTimer !== undefined || leader || closed) return;
    post({ type: 'claim', id });
    claimTimer = setTimeout(() => {
      claimTimer = undefined;
      if (Date.now() - lastBeat > SILENCE_MS) lead();
    }, CLAIM_MS);
  }

  function onElectionMessage(message: Extract<Message, { id: string }>): void {
    if (message.id === id) return;
    if (message.type === 'bye') {
      lastBeat = 0;
      claim();
    } else if (message.type === 'claim') {
      if (leader) post({ type: 'heartbeat', id, connected });
      else if (message.id < id) {
        // A claimant that outranks us: let it lead.
        clearTimeout(claimTimer);
        claimTimer = undefined;
        lastBeat = Date.now();
      } else if (claimTimer !== undefined) {
        // We outrank it, and it may have started after our claim went out: say so again.
        post({ type: 'claim', id });
      }
    } else {
      lastBeat = Date.now();
      clearTimeout(claimTimer);
      claimTimer = undefined;
      // Two leaders (a claim raced a beat): the lower id stays.
      if (leader && message.id < id) resign();
      if (!leader && message.connected !== undefined) setStatus({ connected: message.connected });
    }
  }

  if (channel !== undefined) {
    channel.onmessage = (ev: MessageEvent<Message>) => {
      const message = ev.data;
      switch (message.type) {
        case 'ended':
          return ended(message.reason, true);
        case 'expiring':
          return emit('expiring', message.event);
        case 'user':
          return alive(message.user, true);
        case 'alive':
          return alive(undefined, true);
        case 'stream':
          if (!leader) setStatus({ connected: message.connected });
          return;
        case 'hello':
          if (leader) post({ type: 'stream', connected });
          return;
        default:
          return onElectionMessage(message);
      }
    };
  }
  if (options.events !== false) {
    post({ type: 'hello' });
    elect();
    if (typeof addEventListener === 'function' && beatTimer !== undefined) {
      addEventListener('pagehide', () => {
        if (leader) post({ type: 'bye', id });
      });
    }
  }

  // --- requests ---------------------------------------------------------------------------------

  function request(path: string, init: RequestInit = {}): Promise<Response> {
    if (!isPath(path)) throw new TypeError(`bff: ${path} is not a path on this origin`);
    const headers = new Headers(init.headers);
    headers.set('X-CSRF', '1');
    return fetch(base + path, { ...init, headers, credentials: 'same-origin' });
  }

  /** A route that needs a session answered: 401 ends it, 2xx shows it lives. */
  async function call(path: string, init: RequestInit, expect: number): Promise<Response> {
    const res = await request(path, init);
    if (res.status === 401) {
      unauthenticated(false);
      throw new BffError(401, await problemOf(res));
    }
    if (res.status !== expect) throw new BffError(res.status, await problemOf(res));
    alive();
    return res;
  }

  // --- login in a frame (docs/embedded.md#popup-login) -----------------------------------------

  const embedded = inFrame();

  /** Resolves with the one-time code the popup's last page posts to this window. */
  function codeFrom(popup: Window): Promise<string> {
    return new Promise((resolve, reject) => {
      let grace: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        window.removeEventListener('message', onMessage);
        clearInterval(poll);
        clearTimeout(grace);
      };
      const onMessage = (event: MessageEvent): void => {
        // Only our popup, on our origin: any window can post messages to this one.
        if (event.source !== popup || event.origin !== location.origin) return;
        const data = event.data as { type?: unknown; code?: unknown } | null;
        if (data?.type !== 'tokens-bff:login' || typeof data.code !== 'string') return;
        done();
        resolve(data.code);
      };
      const poll = setInterval(() => {
        if (!popup.closed) return;
        clearInterval(poll);
        // The popup posts its code and closes at once: the message is a task still queued when
        // `closed` turns true, so it gets a moment to arrive before the login counts as abandoned.
        grace = setTimeout(() => {
          done();
          reject(
            popupError(
              'Login window closed',
              'The login window was closed before the login finished.',
            ),
          );
        }, POPUP_CLOSE_GRACE_MS);
      }, POPUP_POLL_MS);
      window.addEventListener('message', onMessage);
    });
  }

  async function popupLogin(returnTo: string): Promise<void> {
    // Opened before the first await: the browser allows a popup only within a click's user
    // activation, which a round trip may outlast. Its address comes once the gateway gave it.
    const popup = window.open('', 'tokens-bff-login', POPUP_FEATURES);
    if (popup === null) {
      throw popupError(
        'Login window blocked',
        'The browser blocked the login window: log in from a click, or allow popups for this app.',
      );
    }
    try {
      const json = { 'Content-Type': 'application/json' };
      const asked = await request('/auth/popup', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ returnTo }),
      });
      if (asked.status !== 200) throw new BffError(asked.status, await problemOf(asked));
      const { loginUrl } = (await asked.json()) as { loginUrl: string };
      popup.location.href = loginUrl;
      const code = await codeFrom(popup);
      const handed = await request('/auth/handoff', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ code }),
      });
      if (handed.status !== 204) throw new BffError(handed.status, await problemOf(handed));
    } finally {
      if (!popup.closed) popup.close();
    }
    const here = location.pathname + location.search + location.hash;
    if (returnTo !== here) {
      location.assign(returnTo);
      return new Promise<void>(() => undefined);
    }
    const res = await request('/session/user', { method: 'GET' });
    if (res.ok) alive((await res.json()) as SessionUser);
  }

  const flag = (o?: { preserveIdleTTL?: boolean }): string =>
    o?.preserveIdleTTL === true ? '?preserveIdleTTL=true' : '';

  return {
    async user(o) {
      const res = await request(`/session/user${flag(o)}`, { method: 'GET' });
      if (res.status === 401) {
        unauthenticated(true);
        return null;
      }
      if (!res.ok) throw new BffError(res.status, await problemOf(res));
      const user = (await res.json()) as SessionUser;
      alive(user);
      return user;
    },

    async fetch(path, init) {
      const res = await request(path, init);
      if (res.status === 401) unauthenticated(false);
      else if (res.ok && /^\/(session|admin)(\/|\?|$)/.test(path)) alive();
      return res;
    },

    async verify(o) {
      const res = await request(`/session${flag(o)}`, { method: 'HEAD' });
      if (res.status === 401) {
        unauthenticated(false);
        return false;
      }
      if (!res.ok) throw new BffError(res.status, undefined);
      alive();
      return true;
    },

    login(returnTo = location.pathname + location.search + location.hash) {
      if (!isPath(returnTo)) throw new TypeError(`bff: returnTo ${returnTo} is not a path`);
      if (embedded) return popupLogin(returnTo);
      location.assign(`${base}/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
      return new Promise<void>(() => undefined);
    },

    embedded,

    async logout() {
      const res = await request('/session', { method: 'DELETE' });
      if (!res.ok) throw new BffError(res.status, await problemOf(res));
      ended('logout');
    },

    async sessions() {
      const res = await call('/session/all', { method: 'GET' }, 200);
      return ((await res.json()) as { sessions: SessionSummary[] }).sessions;
    },

    async endSession(handle) {
      await call(`/session/all/${encodeURIComponent(handle)}`, { method: 'DELETE' }, 204);
    },

    async endOthers() {
      await call('/session/others', { method: 'DELETE' }, 204);
    },

    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => void set.delete(listener);
    },

    get status() {
      return { leader, connected };
    },

    close() {
      if (closed) return;
      if (leader && beatTimer !== undefined) post({ type: 'bye', id });
      resign();
      closed = true;
      clearInterval(beatTimer);
      clearTimeout(claimTimer);
      releaseLock?.();
      abortLock?.abort();
      channel?.close();
      for (const set of Object.values(listeners)) set.clear();
    },
  };
}
