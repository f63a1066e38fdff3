import type { Request } from 'express';
import { isPopupLogin, loginReturnToOf } from '../routes/auth';
import { escapeHtml } from '../core/html';

/** The routes a browser navigates to itself (docs/contract.md#login-failures); no other gets a page. */
const LOGIN_ROUTES: ReadonlySet<string> = new Set(['/auth/login', '/auth/callback']);

/** Whether `req` is for /auth/login or /auth/callback, exactly (strict, case-sensitive routing). */
export function isLoginRoute(req: Request): boolean {
  return LOGIN_ROUTES.has(req.path);
}

/**
 * Whether a failed login request is a browser's own navigation, which gets an HTML page rather
 * than problem+json. Fetch metadata decides when the browser sends it: a script's fetch() is
 * `cors` or `same-origin`, never `navigate`, whatever Accept it sets. Without it (an older
 * browser, curl), an Accept that prefers text/html over JSON stands in.
 */
export function wantsErrorPage(req: Request): boolean {
  if (!isLoginRoute(req)) return false;
  const mode = req.get('sec-fetch-mode');
  if (mode !== undefined) return mode === 'navigate';
  return req.accepts(['application/problem+json', 'application/json', 'text/html']) === 'text/html';
}

/** What the page shows: the problem as the JSON answer would carry it. */
export interface ErrorPageInput {
  readonly status: number;
  readonly title: string;
  readonly code: string;
  readonly detail: string;
  readonly requestId: string;
}

/**
 * The page for a failed login: the status, the problem's detail, a link to start again (to where
 * this login was going, when the callback knew it) and the request id to quote. No script and no
 * external resource, so helmet's default CSP holds; every value is escaped (a detail may carry what
 * Genesys said).
 */
export function errorPage(req: Request, problem: ErrorPageInput): string {
  const returnTo = loginReturnToOf(req);
  const start =
    returnTo === undefined || returnTo === '/'
      ? '/auth/login'
      : `/auth/login?returnTo=${encodeURIComponent(returnTo)}`;
  // A popup's login can only be started again by the frame that asked for it.
  const again = isPopupLogin(req)
    ? '<p id="again">This is the login window of an app shown inside another page: close it, and log in again from the app.</p>'
    : `<p><a id="again" href="${escapeHtml(start)}">Log in again</a></p>`;
  const heading =
    req.path === '/auth/callback' ? 'The login did not finish' : 'The login could not start';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${heading} (${problem.status} ${problem.title})`)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2328}small{color:#59636e}</style>
</head>
<body>
<main>
<h1>${escapeHtml(heading)}</h1>
<p id="detail">${escapeHtml(problem.detail)}</p>
${again}
<p><small>${problem.status} ${escapeHtml(problem.title)} (${escapeHtml(problem.code)}) · request id <code id="request-id">${escapeHtml(problem.requestId)}</code></small></p>
</main>
</body>
</html>
`;
}
