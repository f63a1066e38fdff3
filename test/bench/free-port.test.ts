import fs from 'node:fs';
import net from 'node:net';
import { freePort } from '../../bench/procs';

// The ports the Fetch standard blocks (fetch() fails with "bad port", browsers refuse them).
const BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
  103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
  512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
  995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
  6669, 6679, 6697, 10080,
]);

const ephemeralLow = Number(
  fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
);

it('draws listenable ports below the ephemeral range that fetch() and browsers accept', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 300; i += 1) ports.push(await freePort());
  for (const port of ports) {
    expect(BAD_PORTS.has(port)).toBe(false);
    expect(port).toBeGreaterThan(10_080);
    expect(port).toBeLessThan(ephemeralLow);
  }
  // Spread out, so two workers' probes rarely meet.
  expect(new Set(ports).size).toBeGreaterThan(250);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(ports[0], '127.0.0.1', resolve));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
