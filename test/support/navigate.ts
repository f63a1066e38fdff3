import http from 'node:http';
import type { BrowserClient, ClientResponse } from './browser-client';

// What Chromium sends when the user follows a link or Genesys redirects the browser back.
export const NAVIGATION = {
  'Sec-Fetch-Mode': 'navigate',
  'Sec-Fetch-Dest': 'document',
  Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
};

/**
 * A request over node:http, as a browser's navigation: fetch() would overwrite Sec-Fetch-Mode with
 * `cors` (it is a script) and may not name the Host. Sends and keeps `client`'s cookies; a header
 * given as '' is not sent.
 */
export function navigate(
  client: BrowserClient,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<ClientResponse> {
  const url = new URL(path, client.origin);
  const cookie = client.cookieHeaderFor(url);
  const headers = Object.fromEntries(
    Object.entries({ ...NAVIGATION, Cookie: cookie, ...init.headers }).filter(([, v]) => v !== ''),
  );
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path, method: init.method ?? 'GET', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const answer = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : [value ?? '']) answer.append(name, v);
          }
          client.absorb(answer);
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: answer,
            text,
            json: <T>() => JSON.parse(text) as T,
            location: answer.get('location') ?? undefined,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
