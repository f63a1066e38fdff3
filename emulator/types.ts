/** Public data types of the Genesys Cloud emulator; re-exported by genesys-emulator.ts. */

export interface EmulatorUser {
  /** UUID, as Genesys user ids are. */
  id: string;
  name: string;
  email: string;
  username: string;
  /** Genesys permission strings, e.g. 'directory:organization:admin'. */
  permissions: string[];
}

export interface EmulatorClient {
  id: string;
  /** Confidential client when set; a PKCE public client otherwise. */
  secret?: string;
  name: string;
  /** Exact-match allow list, for both /oauth/authorize and /logout. */
  redirectUris: string[];
  /** Access-token lifetime; Genesys allows 300–172800, default 86400. */
  accessTokenLifetimeSeconds?: number;
  /** When set, API calls needing a scope the client lacks get 403 app.not.authorized.for.scope. */
  scope?: string[];
}

export interface EmulatorOrg {
  id: string;
  name: string;
}

export interface EmulatorOptions {
  host?: string;
  port?: number;
  users?: EmulatorUser[];
  clients?: EmulatorClient[];
  /** ms epoch the controllable clock starts at. */
  startTime?: number;
  /** false (default): time stands still except for advance(); true: it also runs in real time (demo). */
  realTime?: boolean;
  org?: EmulatorOrg;
  /** HIPAA orgs cap the idle-token timeout at 900 s (token.timeout.exceeded.hipaa). */
  hipaa?: boolean;
}

/** Mirrors the IdleTokenTimeout model of tokens-openapi.json. */
export interface InactivityTimeoutGroupBundle {
  priority: number;
  timeoutSeconds: number;
  inactivityTimeoutUnit?: 'Minutes' | 'Hours';
  groups: string[];
}

export interface IdleTokenTimeout {
  idleTokenTimeoutSeconds?: number;
  enableIdleTokenTimeout?: boolean;
  inactivityTimeoutUnit?: 'Minutes' | 'Hours';
  inactivityTimeoutGroupsEnabled?: boolean;
  inactivityTimeoutGroupBundles?: InactivityTimeoutGroupBundle[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /**
   * The W3C trace context headers as received (a repeated header joined by `, `), so tests can
   * assert what reached Genesys without picking through `headers`.
   */
  traceparent: string | undefined;
  tracestate: string | undefined;
  body: string;
  /** getTokensMe, headTokensMe, deleteTokensMe, getTokensTimeout, putTokensTimeout, deleteToken, getUsersMe, authorize, approve, token, logout or unknown. */
  operation: string;
  /** Emulator clock (ms) when the request arrived. */
  at: number;
}

export interface Fault {
  /** Wait this long (real time) before answering. */
  latencyMs?: number;
  /** Answer with this status; a realistic body is made when none is given. */
  status?: number;
  body?: string | object;
  /** Added to the answer; alone, they decorate the emulator's normal answer. */
  headers?: Record<string, string>;
  /** Destroy the socket with a TCP RST. */
  reset?: boolean;
  /** 200 (or status) + application/json with a body that is not JSON. */
  malformed?: boolean;
  /** Never answer (until the client gives up or the emulator closes). */
  hang?: boolean;
}

export interface FaultMatch {
  operation?: string;
  method?: string;
  /** Matched against the path without the query string. */
  path?: string | RegExp;
  /** Apply this many times, then stop; default until clearFaults(). */
  times?: number;
}

export interface IssuedTokens {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
}
