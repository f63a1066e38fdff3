import { randomBytes } from 'node:crypto';
import http from 'node:http';
import express, { type Request, type Response } from 'express';
import { serve } from '../serve';

/**
 * Reference "express-floor": the gateway's job for `GET|HEAD /session` done by hand in Express 5,
 * with nothing else: the cookie names a token in a Map, one keep-alive `http.request` to the
 * upstream's `/api/v2/tokens/me`, its answer piped back. No store, no encryption, no anti-forgery,
 * no logging, no header filtering: the floor a BFF built on Express cannot go below.
 *
 * `node express-floor.js '{"port":0,"upstreamUrl":"http://127.0.0.1:N"}'`; prints `{"port":N}`.
 * `POST /bench/login` with `{"token":"…"}` makes a session (Set-Cookie `sid`), for the bench's setup.
 */

interface Options {
  readonly port: number;
  readonly upstreamUrl: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const upstream = new URL(options.upstreamUrl);
const agent = new http.Agent({ keepAlive: true });
const tokens = new Map<string, string>();

function sessionId(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === 'sid') return part.slice(eq + 1).trim();
  }
  return undefined;
}

function forward(req: Request, res: Response): void {
  const sid = sessionId(req.headers.cookie);
  const token = sid === undefined ? undefined : tokens.get(sid);
  if (token === undefined) {
    res.status(401).end();
    return;
  }
  const query = req.url.indexOf('?');
  const upstreamReq = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: `/api/v2/tokens/me${query >= 0 ? req.url.slice(query) : ''}`,
      agent,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    },
    (upstreamRes) => {
      res.status(upstreamRes.statusCode ?? 502);
      const type = upstreamRes.headers['content-type'];
      if (type !== undefined) res.setHeader('Content-Type', type);
      const length = upstreamRes.headers['content-length'];
      if (length !== undefined) res.setHeader('Content-Length', length);
      upstreamRes.pipe(res);
    },
  );
  upstreamReq.on('error', () => {
    if (res.headersSent) res.destroy();
    else res.status(502).end();
  });
  upstreamReq.end();
}

const app = express();
app.disable('x-powered-by');
app.post('/bench/login', express.json(), (req, res) => {
  const sid = randomBytes(32).toString('base64url');
  tokens.set(sid, String((req.body as { token?: unknown }).token));
  res.cookie('sid', sid, { httpOnly: true, path: '/', sameSite: 'strict' });
  res.status(204).end();
});
// Express answers HEAD with the GET route; `forward` sends HEAD upstream as HEAD.
app.get('/session', forward);

const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
serve(server, options.port);
