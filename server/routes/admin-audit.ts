import type { Request, RequestHandler } from 'express';
import type { Logger } from '../core/logger';
import { requestIdOf } from '../core/request-id';
import { traceIdOf } from '../core/trace-context';

export const TIMEOUT_ROUTE = '/admin/tokens/timeout';
// A wildcard, not `:userId`: an empty id or one holding a slash (`//tokens`, `%2F`) reaches the
// handler and gets the same 400 as any other non-UUID id, instead of slipping to a 404.
export const REVOKE_ROUTE = '/admin/users/{*userId}/tokens';
const REVOKE_PATH = /^\/admin\/users\/(.*)\/tokens$/;

/** An audit line's action and target. */
export interface AdminAuditSubject {
  /** `tokens.timeout.read`, `tokens.timeout.update`, `user.tokens.revoke`, or `unknown`. */
  readonly action: string;
  /** `organization` for the timeout, the user id as sent for a revoke, else the path. */
  readonly target: string;
}

/**
 * What an admin request asks for, from its method and raw path: computed before routing, so a
 * request refused early (anti-forgery, no session, bad id) is audited as what it attempted.
 */
export function auditSubject(method: string, path: string): AdminAuditSubject {
  if (path === TIMEOUT_ROUTE) {
    const action =
      method === 'PUT'
        ? 'tokens.timeout.update'
        : method === 'GET' || method === 'HEAD'
          ? 'tokens.timeout.read'
          : 'unknown';
    return { action, target: 'organization' };
  }
  const revoke = REVOKE_PATH.exec(path);
  if (revoke) {
    // Still percent-encoded: the log shows exactly what was sent (`..%2F..%2Ftimeout`).
    const target = (revoke[1] ?? '').slice(0, 64);
    return { action: method === 'DELETE' ? 'user.tokens.revoke' : 'unknown', target };
  }
  return { action: 'unknown', target: path.slice(0, 128) };
}

/** The audit of admin requests: `start` before anti-forgery, `noteActor` once the session is read. */
export interface AdminAudit {
  readonly start: RequestHandler;
  readonly noteActor: RequestHandler;
}

/**
 * One audit line per admin request, refused ones included (CSRF, no session, invalid body,
 * Genesys 403). Started before anti-forgery so that refusals there are audited too; the actor
 * is null when no session was read (no session, or refused before the session is read).
 */
export function createAdminAudit(logger: Logger): AdminAudit {
  // Noted when the session is read: a self-revoke destroys the session before the line is written.
  const actors = new WeakMap<Request, { id: string; name: string }>();
  const noteActor: RequestHandler = (req, _res, next) => {
    const user = req.session?.user;
    if (user) actors.set(req, user);
    next();
  };
  const start: RequestHandler = (req, res, next) => {
    // Read now: the proxy rewrites req.url to the upstream path later on. Not through URL():
    // it would resolve `%2e%2e` and hide what was tried. An absolute-form target loses its origin.
    const path = (req.originalUrl.split('?')[0] ?? '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
    const { action, target } = auditSubject(req.method, path);
    // 'close' rather than 'finish': a client that hangs up mid-request (its revoke may still
    // have reached Genesys) is audited too, with a null outcome.
    res.once('close', () => {
      const actor = actors.get(req) ?? req.session?.user;
      logger.info(
        {
          audit: true,
          actor: actor ? { id: actor.id, name: actor.name } : null,
          action,
          target,
          method: req.method,
          outcome: res.writableFinished ? res.statusCode : null,
          requestId: requestIdOf(req),
          traceId: traceIdOf(req),
        },
        'admin action',
      );
    });
    next();
  };
  return { start, noteActor };
}
