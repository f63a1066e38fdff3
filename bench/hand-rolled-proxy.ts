import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

export interface HandRolledProxy {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The second reference: what a team would write by hand in a few lines, with the same Express 5
 * and http-proxy-middleware as the gateway but no sessions, no anti-forgery, no header filtering
 * and one fixed bearer token. The gap between it and the gateway is the price of the BFF's work.
 */
export async function startHandRolledProxy(
  upstreamUrl: string,
  accessToken: string,
): Promise<HandRolledProxy> {
  const app = express();
  app.use(
    '/session',
    createProxyMiddleware({
      target: upstreamUrl,
      // Without an agent http-proxy sends `Connection: close` upstream and relays the upstream's
      // close to the client: every request would open two TCP connections, which measures the
      // kernel, not the proxy. The gateway keeps a pool too.
      agent: new http.Agent({ keepAlive: true }),
      changeOrigin: true,
      pathRewrite: () => '/api/v2/tokens/me',
      headers: { authorization: `Bearer ${accessToken}` },
    }),
  );
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
