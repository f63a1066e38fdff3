/** The parsed, validated, frozen configuration. Built once by loadConfig(env); nothing else reads the environment. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type SessionStoreKind = 'sqlite' | 'redis' | 'memory';

/** One Redis server or Sentinel, as REDIS_SENTINELS and REDIS_CLUSTER_NODES list them. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

/** How the Redis store reaches Redis: exactly one of `url`, `sentinels`, `clusterNodes` is set. */
export interface RedisSettings {
  /** REDIS_URL: one server (or a primary behind a fixed address), credentials in the URL. */
  readonly url?: string;
  /** REDIS_SENTINELS, with the primary's name (REDIS_SENTINEL_MASTER). */
  readonly sentinels?: readonly RedisEndpoint[];
  readonly sentinelMaster?: string;
  /** REDIS_CLUSTER_NODES: seed nodes of a Redis Cluster. */
  readonly clusterNodes?: readonly RedisEndpoint[];
  /** ACL user and password for Sentinel and Cluster (REDIS_URL carries its own). */
  readonly username?: string;
  readonly password?: string;
  /** TLS for Sentinel and Cluster (REDIS_URL says it with rediss://). */
  readonly tls?: boolean;
  /** PEM of the CA that signs the Redis certificates (REDIS_TLS_CA_FILE); unset, the system CAs. */
  readonly tlsCa?: string;
}

export interface Config {
  /** Listener (PORT / HOST). */
  readonly port: number;
  readonly host: string;
  /** PUBLIC_BASE_URL as an origin without a trailing slash, e.g. https://app.example.com */
  readonly publicOrigin: string;
  /**
   * True when PUBLIC_BASE_URL is https, or EMBED_ORIGINS is set (loopback http included): cookies
   * get Secure and the __Host-Http- prefix.
   */
  readonly secureCookies: boolean;
  readonly genesys: {
    /** The region domain, e.g. mypurecloud.com (from GENESYS_REGION, SDK key or domain). */
    readonly region: string;
    /** https://api.{domain}, or GENESYS_API_BASE_URL; no trailing slash. */
    readonly apiBaseUrl: string;
    /** https://login.{domain}, or GENESYS_LOGIN_BASE_URL; no trailing slash. */
    readonly loginBaseUrl: string;
  };
  readonly oauth: {
    readonly clientId: string;
    /** Confidential client when set; otherwise the PKCE-only public flow. */
    readonly clientSecret: string | undefined;
    /** PUBLIC_BASE_URL + /auth/callback */
    readonly redirectUri: string;
  };
  readonly session: {
    /** SESSION_SECRET list: the first signs, all verify. */
    readonly secrets: readonly string[];
    readonly store: SessionStoreKind;
    readonly sqlitePath: string;
    readonly redisUrl: string | undefined;
    /** Where Redis is, with SESSION_STORE=redis; undefined with the other stores. */
    readonly redis: RedisSettings | undefined;
    readonly idleTimeoutSeconds: number;
    readonly absoluteTimeoutSeconds: number;
    /** SESSION_COOKIE_SAMESITE; `none` when embedded (EMBED_ORIGINS). */
    readonly cookieSameSite: 'strict' | 'lax' | 'none';
    /** Embedded (EMBED_ORIGINS): the cookies a frame needs are Partitioned (CHIPS). */
    readonly partitioned: boolean;
    /** How long before its earliest deadline a session's event streams hear `expiring`. */
    readonly warningSeconds: number;
    /** Event streams this process serves at most. */
    readonly maxEventStreams: number;
    /** __Host-Http-session over https (RFC 10017 BFF cookie), bff.sid over plain http. */
    readonly cookieName: string;
  };
  /** 32-byte AES-256-GCM keys: the first encrypts, all decrypt. Derived from the secrets when TOKEN_ENCRYPTION_KEY is unset. */
  readonly tokenEncryptionKeys: readonly Buffer[];
  readonly upstreamTimeoutMs: number;
  /** Express 'trust proxy' value. */
  readonly trustProxy: boolean | number | string;
  readonly logLevel: LogLevel;
  readonly adminEnabled: boolean;
  readonly metricsPort: number | undefined;
  readonly staticDir: string | undefined;
  /** Origins besides the app's own that may frame it (EMBED_ORIGINS); undefined: none. */
  readonly embedOrigins: readonly string[] | undefined;
  readonly idpLogout: boolean;
  /** SIGTERM: requests in flight get this long to finish; the process exits as soon as they have. */
  readonly shutdownDrainSeconds: number;
}
