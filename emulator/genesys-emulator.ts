import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendError } from './error-body';
import { applyFault, FaultRegistry } from './faults';
import type { RequestContext } from './http-util';
import { correlationIdFor, firstValues, readBody, sendHtml, sendJson } from './http-util';
import { renderErrorPage } from './login-page';
import { handleApprove, handleAuthorize, handleLogout, handleToken } from './oauth';
import type { RouteMatch } from './routes';
import { matchRoute } from './routes';
import { EmulatorState } from './state';
import { handleApi } from './tokens-api';
import type {
  EmulatorClient,
  EmulatorOptions,
  EmulatorUser,
  Fault,
  FaultMatch,
  IdleTokenTimeout,
  IssuedTokens,
  RecordedRequest,
} from './types';

export type {
  EmulatorClient,
  EmulatorOptions,
  EmulatorOrg,
  EmulatorUser,
  Fault,
  FaultMatch,
  IdleTokenTimeout,
  InactivityTimeoutGroupBundle,
  IssuedTokens,
  RecordedRequest,
} from './types';

export const ADMIN_USER: EmulatorUser = {
  id: 'f8a3c6e2-1d4b-4c7a-9e2f-0b5d8a7c6e41',
  name: 'Ada Admin',
  email: 'ada.admin@example.com',
  username: 'ada.admin@example.com',
  permissions: ['directory:organization:admin', 'oauth:token:delete'],
};

export const AGENT_USER: EmulatorUser = {
  id: '3b9e7d10-6a2c-4f85-b1d3-9c8e2a4f7b52',
  name: 'Alan Agent',
  email: 'alan.agent@example.com',
  username: 'alan.agent@example.com',
  permissions: [],
};

export const DEFAULT_USERS: EmulatorUser[] = [ADMIN_USER, AGENT_USER];

export const DEFAULT_ORG = { id: '5c1f8e2a-9b3d-4e7f-a6c0-2d8b4f1e9a37', name: 'Emulated Org' };

/** Genesys' default per-token budget, reported (not enforced) in the inin-ratelimit-* headers. */
const RATE_LIMIT_ALLOWED = 300;
const RATE_WINDOW_MS = 60_000;

function baseUrl(address: AddressInfo): string {
  const host =
    address.address === '0.0.0.0'
      ? '127.0.0.1'
      : address.address === '::'
        ? '[::1]'
        : address.address.includes(':')
          ? `[${address.address}]`
          : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * A real HTTP server that speaks like Genesys Cloud's login host (OAuth code + PKCE) and API
 * host (the Tokens API and /users/me) on one origin, with a controllable clock, a request log
 * and faults on demand. Create it with startEmulator().
 */
export class GenesysEmulator {
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly faults = new FaultRegistry();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly rateWindows = new Map<string, { start: number; count: number }>();
  private address = '';
  private closing: Promise<void> | undefined;

  constructor(private readonly state: EmulatorState) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** 'http://127.0.0.1:PORT': both the login host and the API host. */
  get url(): string {
    return this.address;
  }

  /** Binds the listener; startEmulator() calls it. */
  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.address = baseUrl(this.server.address() as AddressInfo);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  requestsFor(operation: string): RecordedRequest[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  now(): number {
    return this.state.now();
  }

  /** Moves the clock; codes, tokens and idle timers expire as if that time had passed. */
  advance(ms: number): void {
    this.state.advance(ms);
  }

  /** Registers (or replaces, by id) an OAuth client. */
  addClient(client: EmulatorClient): void {
    this.state.clients.set(client.id, {
      ...client,
      redirectUris: [...client.redirectUris],
      ...(client.scope ? { scope: [...client.scope] } : {}),
    });
  }

  /** Adds (or replaces, by id) a user. */
  addUser(user: EmulatorUser): void {
    this.state.users.set(user.id, { ...user, permissions: [...user.permissions] });
  }

  /** Misbehave on matching requests; see Fault. Faults apply in the order added. */
  fault(match: FaultMatch, fault: Fault): void {
    this.faults.add(match, fault);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** With a user id, GET /oauth/authorize redirects with a code at once; null shows the login page. */
  autoApprove(userId: string | null): void {
    if (userId !== null && !this.state.users.has(userId)) {
      throw new Error(`autoApprove: unknown user ${userId}`);
    }
    this.state.autoApproveUserId = userId;
  }

  /** Mints tokens as a code grant would, without the browser dance. */
  issueToken(userId: string, clientId: string): IssuedTokens {
    const client = this.state.clients.get(clientId);
    if (!client) throw new Error(`issueToken: unknown client ${clientId} (addClient first)`);
    if (!this.state.users.has(userId)) throw new Error(`issueToken: unknown user ${userId}`);
    return this.state.issueTokens(client, userId, 'CODE');
  }

  /** The org's idle-token setting, merged as PUT /api/v2/tokens/timeout would (unvalidated). */
  setIdleTimeout(timeout: Partial<IdleTokenTimeout>): void {
    this.state.updateIdleTimeout(timeout);
  }

  /** HIPAA orgs cap the idle timeout at 900 s. */
  setHipaa(enabled: boolean): void {
    this.state.hipaa = enabled;
  }

  isTokenActive(accessToken: string): boolean {
    return this.state.lookup(accessToken) !== undefined;
  }

  /** Stops listening and destroys every socket, keep-alive and hanging ones included. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private rateLimitHeaders(req: IncomingMessage): Record<string, string> {
    const key = req.headers.authorization ?? req.socket.remoteAddress ?? '';
    // Wall-clock windows: the emulator clock may stand still for a whole test run.
    const now = Date.now();
    let window = this.rateWindows.get(key);
    if (!window || now - window.start >= RATE_WINDOW_MS) {
      // Bounded memory for long benchmark runs with many tokens.
      if (this.rateWindows.size > 10_000) this.rateWindows.clear();
      window = { start: now, count: 0 };
      this.rateWindows.set(key, window);
    }
    window.count += 1;
    return {
      'inin-ratelimit-count': String(window.count),
      'inin-ratelimit-allowed': String(RATE_LIMIT_ALLOWED),
      'inin-ratelimit-reset': String(Math.ceil((window.start + RATE_WINDOW_MS - now) / 1000)),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.serve(req, res);
    } catch {
      // Last resort: the emulator must never take the test process down.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('emulator failure');
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { body, tooLarge } = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const route = matchRoute(method, url.pathname);
    const correlationId = correlationIdFor(req);
    const ctx: RequestContext = {
      req,
      res,
      method,
      path: url.pathname,
      query: firstValues(url.searchParams),
      searchParams: url.searchParams,
      params: route.params,
      body,
      bodyTooLarge: tooLarge,
      operation: route.operation,
      correlationId,
      extraHeaders: {},
      apiHeaders: route.isApi
        ? { 'ININ-Correlation-Id': correlationId, ...this.rateLimitHeaders(req) }
        : {},
    };
    // Logged before any fault, so tests can assert what was sent even when it "failed".
    this.requests.push({
      method,
      path: ctx.path,
      query: ctx.query,
      headers: { ...req.headers },
      traceparent: req.headers.traceparent as string | undefined,
      tracestate: req.headers.tracestate as string | undefined,
      body,
      operation: route.operation,
      at: this.state.now(),
    });
    try {
      const fault = this.faults.take(ctx);
      if (fault) {
        if (fault.latencyMs) await this.sleep(fault.latencyMs);
        if (this.closing || res.destroyed) return;
        if (applyFault(ctx, fault) === 'answered') return;
      }
      this.dispatch(ctx, route);
    } catch (err) {
      sendError(ctx, 500, 'internal.server.error', `Emulator failure: ${String(err)}`);
    }
  }

  private dispatch(ctx: RequestContext, route: RouteMatch): void {
    if (ctx.bodyTooLarge) return sendError(ctx, 413);
    if (route.operation === 'unknown') {
      if (route.allowed.length === 0) return sendError(ctx, 404);
      const allow = { Allow: route.allowed.join(', ') };
      if (route.isApi) return sendError(ctx, 405, undefined, undefined, allow);
      if (ctx.path === '/oauth/token') {
        return sendJson(
          ctx,
          405,
          { error: 'invalid_request', error_description: 'Use POST' },
          allow,
        );
      }
      const page = renderErrorPage('Method not allowed', `Use ${route.allowed.join(' or ')}.`);
      return sendHtml(ctx, 405, page, allow);
    }
    switch (route.operation) {
      case 'authorize':
        return handleAuthorize(ctx, this.state);
      case 'approve':
        return handleApprove(ctx, this.state);
      case 'token':
        return handleToken(ctx, this.state);
      case 'logout':
        return handleLogout(ctx, this.state);
      default:
        return handleApi(ctx, this.state);
    }
  }
}

/** Starts an emulator on 127.0.0.1 and a free port (by default); close() it when done. */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<GenesysEmulator> {
  const state = new EmulatorState(
    opts.org ?? DEFAULT_ORG,
    opts.startTime ?? Date.now(),
    opts.hipaa ?? false,
    opts.realTime ?? false,
  );
  const emulator = new GenesysEmulator(state);
  for (const user of opts.users ?? DEFAULT_USERS) emulator.addUser(user);
  for (const client of opts.clients ?? []) emulator.addClient(client);
  await emulator.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  return emulator;
}
