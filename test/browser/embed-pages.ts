import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * The app as a Genesys Cloud client app would be: a page the gateway serves (STATIC_DIR, under
 * the gateway's CSP) that imports the client module. `#login` logs in as an app would
 * (bff.login(), which in a frame opens the popup); `#raw-login` asks for a popup login by hand
 * and keeps the code its popup posts back without handing it over, for the tests that try to
 * misuse a code. Every code the page hears is kept in `window.codes`.
 */
const INDEX = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>embedded app</title></head>
  <body>
    <button id="login">Log in</button>
    <button id="raw-login">Raw popup login</button>
    <form method="post" action="/auth/logout"><button id="logout-form">Log out (form)</button></form>
    <script type="module" src="/frame.js"></script>
  </body>
</html>
`;

const SCRIPT = `import { createBff, genesysContext } from '/bff/client-v1.js';
window.codes = [];
window.addEventListener('message', (event) => {
  if (event.origin === location.origin && event.data && event.data.type === 'tokens-bff:login') {
    window.codes.push(event.data.code);
  }
});
window.bff = createBff();
window.context = genesysContext();
document.getElementById('login').addEventListener('click', () => {
  window.result = window.bff.login().then(() => 'ok', (err) => 'error: ' + err.message);
});
document.getElementById('raw-login').addEventListener('click', async () => {
  const popup = window.open('', 'raw-login', 'popup');
  const res = await fetch('/auth/popup', { method: 'POST', headers: { 'X-CSRF': '1' } });
  popup.location.href = (await res.json()).loginUrl;
});
`;

/** Writes the app's page into a temp folder for STATIC_DIR; returns it (the caller removes it). */
export function writeEmbeddedApp(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-embedded-app-'));
  fs.writeFileSync(path.join(dir, 'index.html'), INDEX);
  fs.writeFileSync(path.join(dir, 'frame.js'), SCRIPT);
  return dir;
}

/** A stand-in for Genesys Cloud: a page on another site whose iframe shows the app. */
export interface ParentSite {
  /** The site's origin, e.g. http://localhost:41234. */
  readonly origin: string;
  /** The page that frames `appUrl` (with the query Genesys Cloud would add). */
  pageFor(appUrl: string): string;
  close(): Promise<void>;
}

/**
 * The sandbox Genesys Cloud gives a client app's iframe by default (the integration's "Iframe
 * Sandbox Options"): without allow-popups-to-escape-sandbox, so the login popup inherits it.
 */
export const GENESYS_SANDBOX =
  'allow-forms allow-modals allow-popups allow-presentation allow-same-origin allow-scripts allow-downloads';

/**
 * Serves `/?app=<url>`: a page framing that URL, as Genesys Cloud frames a client app. `host` is
 * what the browser calls it (`localhost` or `127.0.0.2`): another host is another site than the
 * gateway's 127.0.0.1, and so another cookie partition.
 */
export async function startParentSite(host: 'localhost' | '127.0.0.2'): Promise<ParentSite> {
  const server = http.createServer((req, res) => {
    const app = new URL(req.url ?? '/', 'http://x').searchParams.get('app') ?? '';
    const escaped = app.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(
      `<!doctype html><html><head><title>parent</title></head><body>` +
        `<h1>Genesys Cloud stand-in</h1><iframe id="app" src="${escaped}" sandbox="${GENESYS_SANDBOX}" width="800" height="500"></iframe>` +
        `</body></html>`,
    );
  });
  const listenOn = host === 'localhost' ? '127.0.0.1' : host;
  await new Promise<void>((resolve) => server.listen(0, listenOn, resolve));
  const origin = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    pageFor: (appUrl) => `${origin}/?app=${encodeURIComponent(appUrl)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
