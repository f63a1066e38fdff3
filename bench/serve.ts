import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How every bench server runs: listens on 127.0.0.1, prints `{"port":N}` as its first stdout
 * line (the bench reads it), and on SIGTERM stops accepting, drops its connections and exits 0.
 */
export function serve(server: http.Server, port: number): void {
  server.listen(port, '127.0.0.1', () => {
    const { port: bound } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ port: bound })}\n`);
  });
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
