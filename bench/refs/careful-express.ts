import http from 'node:http';
import express, { type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { serve } from '../serve';

/**
 * Reference "careful-express": what a careful team would build from the usual parts, in Express 5:
 * helmet(), express-session (MemoryStore, rolling, resave false, saveUninitialized false), an
 * `X-CSRF: 1` check, and http-proxy-middleware v3 with a keep-alive agent that injects the
 * session's bearer token and drops the browser's cookie. No encryption at rest, no shared store,
 * no access log, no metrics, no refresh, no header filtering of the answer.
 *
 * `node careful-express.js '{"port":0,"upstreamUrl":"http://127.0.0.1:N","secret":"…"}'`; prints
 * `{"port":N}`. `POST /bench/login` with `{"token":"…"}` makes a session, for the bench's setup.
 */

interface Options {
  readonly port: number;
  readonly upstreamUrl: string;
  readonly secret: string;
}

declare module 'express-session' {
  interface SessionData {
    token?: string;
  }
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;

const csrf: RequestHandler = (req, res, next) => {
  if (req.get('x-csrf') === '1') next();
  else res.status(403).end();
};

const sessions = session({
  name: 'sid',
  secret: options.secret,
  store: new session.MemoryStore(),
  resave: false,
  saveUninitialized: false,
  rolling: true,
  cookie: { path: '/', httpOnly: true, sameSite: 'strict', maxAge: 30 * 60 * 1000 },
});

const requireToken: RequestHandler = (req, res, next) => {
  if (req.session.token === undefined) res.status(401).end();
  else next();
};

const proxy = createProxyMiddleware<Request, Response>({
  target: options.upstreamUrl,
  agent: new http.Agent({ keepAlive: true }),
  changeOrigin: true,
  pathRewrite: (_path, req) => {
    const url = req.originalUrl;
    const query = url.indexOf('?');
    return `/api/v2/tokens/me${query >= 0 ? url.slice(query) : ''}`;
  },
  on: {
    proxyReq: (proxyReq, req) => {
      proxyReq.removeHeader('cookie');
      proxyReq.setHeader('Authorization', `Bearer ${String(req.session.token)}`);
    },
  },
});

const app = express();
app.disable('x-powered-by');
app.use(helmet());
app.post('/bench/login', csrf, express.json(), sessions, (req, res, next) => {
  req.session.regenerate((err: unknown) => {
    if (err) {
      next(err);
      return;
    }
    req.session.token = String((req.body as { token?: unknown }).token);
    res.status(204).end();
  });
});
app.use('/session', csrf, sessions, requireToken, proxy);

const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
serve(server, options.port);
