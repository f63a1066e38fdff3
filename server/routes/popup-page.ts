import type { Response } from 'express';
import { escapeHtml } from '../core/html';

/** Where the popup's page loads its script from: 'self', so the default CSP holds (no inline script). */
export const POPUP_SCRIPT_PATH = '/auth/popup-return.js';

/**
 * The popup's script: posts the code to the window that opened it, only if that window is on the
 * public origin (postMessage's target origin: a page of any other origin that opened the popup
 * gets nothing), then closes. Without an opener it says so and stays.
 */
export const POPUP_SCRIPT = `'use strict';
(function () {
  var main = document.getElementById('handoff');
  var status = document.getElementById('status');
  if (!window.opener) {
    status.textContent =
      'This window has no app to return to: the app was closed, or this page was opened on its own. ' +
      'Close this window and log in again from the app.';
    return;
  }
  window.opener.postMessage(
    { type: 'tokens-bff:login', code: main.dataset.code, returnTo: main.dataset.returnTo },
    main.dataset.origin,
  );
  status.textContent = 'Logged in. You can close this window.';
  window.close();
})();
`;

/**
 * Sends the page that ends a popup login: the one-time code in a data attribute, read by
 * POPUP_SCRIPT. The popup keeps its opener across the Genesys round trip only when no page of
 * ours in it asks for a browsing context group of its own, hence COOP unsafe-none here.
 */
export function sendPopupPage(
  res: Response,
  page: { code: string; returnTo: string; publicOrigin: string },
): void {
  res.setHeader('Cross-Origin-Opener-Policy', 'unsafe-none');
  res.type('html').send(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Logging in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2328}</style>
</head>
<body>
<main id="handoff" data-code="${escapeHtml(page.code)}" data-return-to="${escapeHtml(page.returnTo)}" data-origin="${escapeHtml(page.publicOrigin)}">
<h1>Logging in</h1>
<p id="status">Returning to the app…</p>
</main>
<script src="${POPUP_SCRIPT_PATH}"></script>
</body>
</html>
`);
}
