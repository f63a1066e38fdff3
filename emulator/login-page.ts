import { escapeHtml } from './http-util';
import type { EmulatorClient, EmulatorUser } from './types';

/** The authorize parameters the login form carries to the approve POST. */
export const AUTHORIZE_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'state',
  'code_challenge',
  'code_challenge_method',
] as const;

function page(title: string, content: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; }
button { display: block; width: 100%; margin: .5rem 0; padding: .6rem; font-size: 1rem; cursor: pointer; }
.deny { background: none; border: 1px solid #999; }
.muted { color: #666; font-size: .9rem; }
</style>
</head>
<body>
${content}
</body>
</html>
`;
}

/**
 * One form, one submit button per user: the button's name/value pair says who signs in, so a
 * browser test can click "Sign in as Ada Admin" and the approve POST knows the user.
 */
export function renderLoginPage(
  client: EmulatorClient,
  users: EmulatorUser[],
  params: Record<string, string>,
): string {
  const hidden = AUTHORIZE_PARAMS.filter((name) => params[name] !== undefined)
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(params[name] ?? '')}">`)
    .join('\n');
  const buttons = users
    .map(
      (u) =>
        `<button type="submit" name="user_id" value="${escapeHtml(u.id)}" id="login-${escapeHtml(u.id)}" data-user-id="${escapeHtml(u.id)}">Sign in as ${escapeHtml(u.name)}</button>`,
    )
    .join('\n');
  return page(
    'Genesys Cloud emulator - Sign in',
    `<h1>Sign in</h1>
<p><strong>${escapeHtml(client.name)}</strong> wants to access your Genesys Cloud account.</p>
<form method="post" action="/oauth/authorize/approve">
${hidden}
${buttons}
<button type="submit" name="deny" value="1" id="deny" class="deny">Deny</button>
</form>
<p class="muted">Genesys Cloud emulator: no password, pick a user.</p>`,
  );
}

export function renderErrorPage(title: string, detail: string): string {
  return page(
    `Genesys Cloud emulator - ${title}`,
    `<h1>${escapeHtml(title)}</h1>\n<p id="error">${escapeHtml(detail)}</p>`,
  );
}

export function renderLoggedOutPage(): string {
  return page('Genesys Cloud emulator - Signed out', '<h1>You have been signed out</h1>');
}
