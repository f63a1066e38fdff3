import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { startEmulator } from '../emulator/genesys-emulator';

/**
 * The Genesys emulator as a server of its own, for the deployment tests (scripts/compose-test.sh,
 * scripts/kube-test.sh): the gateway in a container reaches it by a network name, and the gateway
 * takes a Genesys URL that is not loopback only over https, so it answers over TLS with the
 * certificate given. One OAuth client, from the flags:
 *
 *   node dist/scripts/emulator-server.js --port 8443 --tls-cert cert.pem --tls-key key.pem \
 *     --client-id ID [--client-secret-file FILE] --redirect-uri URL [--redirect-uri URL…]
 *
 * Listens on --host (default 0.0.0.0: it runs in a container of its own); stops on SIGTERM.
 */

/** How often request records are dropped: the emulator keeps every one for tests to read. */
const HOUSEKEEPING_MS = 10_000;

function values(name: string): string[] {
  const found: string[] = [];
  process.argv.forEach((arg, i) => {
    const next = process.argv[i + 1];
    if (arg === `--${name}` && next !== undefined) found.push(next);
  });
  return found;
}

function value(name: string): string | undefined {
  return values(name)[0];
}

function required(name: string): string {
  const found = value(name);
  if (found === undefined) throw new Error(`--${name} is required`);
  return found;
}

async function main(): Promise<void> {
  const secretFile = value('client-secret-file');
  const emulator = await startEmulator({
    // Real time: tokens and idle timers expire as they would at Genesys.
    realTime: true,
    clients: [
      {
        id: required('client-id'),
        ...(secretFile ? { secret: fs.readFileSync(secretFile, 'utf8').trim() } : {}),
        name: 'tokens-bff deployment test',
        redirectUris: values('redirect-uri'),
      },
    ],
  });
  const inner = new URL(emulator.url);
  // TLS in front of the emulator's plain listener on the container's own loopback.
  const server = tls.createServer(
    { cert: fs.readFileSync(required('tls-cert')), key: fs.readFileSync(required('tls-key')) },
    (socket) => {
      const upstream = net.connect(Number(inner.port), inner.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  const host = value('host') ?? '0.0.0.0';
  const port = Number(value('port') ?? 8443);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  process.stdout.write(
    `${JSON.stringify({ msg: 'emulator listening', address: `${host}:${port}` })}\n`,
  );
  setInterval(() => emulator.clearRequests(), HOUSEKEEPING_MS).unref();
  process.once('SIGTERM', () => {
    server.close();
    void emulator.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`emulator failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
