import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RequestHandler } from 'express';

/**
 * Where the gateway serves the browser client module (client/bff-client.ts, built into
 * dist/client/). The path names the module's API version, so frontends import it by a name that
 * does not change under them, and a browser may keep it as long as it likes: a change that
 * breaks a caller gets a new path (docs/frontend.md#the-client-module).
 */
export const CLIENT_MODULE_PATH = '/bff/client-v1.js';

/**
 * The built module: beside the compiled server (dist/server/http → dist/client), or, for a server
 * run from its sources (ts-jest), in the build's dist/.
 */
const BUILT = [
  path.resolve(__dirname, '../../client/bff-client.js'),
  path.resolve(__dirname, '../../dist/client/bff-client.js'),
];

/**
 * Serves the client module, read once when the app is built, with a year of immutable caching and
 * a strong ETag (its SHA-256). Without a built module (a server run from sources before any
 * build) the path is an unknown route like any other.
 */
export function clientModule(file = BUILT.find((f) => fs.existsSync(f))): RequestHandler {
  if (file === undefined) return (_req, _res, next) => next();
  const body = fs.readFileSync(file);
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  return (req, res) => {
    res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('ETag', etag);
    // Not req.fresh: it calls a request with `Cache-Control: no-cache` stale, and fetch() sends
    // that with every If-None-Match; the origin answers the condition (RFC 9110 §13.1.2).
    if (matches(req.headers['if-none-match'], etag)) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Length', body.length);
    res.status(200).end(req.method === 'HEAD' ? undefined : body);
  };
}

/** If-None-Match against one strong tag: `*`, or a list holding it (weak comparison). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}
