import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Redis, { Cluster } from 'ioredis';
import type { RedisEndpoint } from '../../config/types';
import { freePort } from './gateway-harness';
import { startRedisServer, type RedisServer } from './redis-server';

/** A Redis Cluster of three primaries (each with a replica, if asked) on 127.0.0.1, owned by one test file. */
export interface RedisClusterSetup {
  readonly servers: readonly RedisServer[];
  /** What REDIS_CLUSTER_NODES lists. */
  readonly nodes: readonly RedisEndpoint[];
  /** A cluster client of the test's own (ready, knowing every primary), to look at keys with. */
  readonly admin: Cluster;
  /** Stops every node and removes the folder; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts three `redis-server --cluster-enabled yes`, joins them with `redis-cli --cluster create`
 * (which splits the 16384 slots into three runs) and resolves once every node says
 * cluster_state:ok. With `replicas`, six servers: each primary gets a replica, and a primary
 * that stops answering for `--cluster-node-timeout` (1 s here) is failed over to it.
 */
export async function startRedisCluster(
  options: { replicas?: boolean } = {},
): Promise<RedisClusterSetup> {
  const count = options.replicas ? 6 : 3;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-cluster-'));
  const servers: RedisServer[] = [];
  let admin: Cluster | undefined;
  let stopped = false;
  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    admin?.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  try {
    for (let i = 0; i < count; i += 1) {
      const nodeDir = path.join(dir, `node-${i}`);
      fs.mkdirSync(nodeDir);
      servers.push(
        await startRedisServer({
          dir: nodeDir,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            // A bus port of its own: the default, the port + 10000, is nobody's to take and may
            // be in use (a test run saw "Failed listening on port … (cluster)").
            '--cluster-port',
            String(await freePort()),
            ...(options.replicas ? ['--cluster-node-timeout', '1000'] : []),
          ],
        }),
      );
    }
    const nodes = servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
    await promisify(execFile)('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      ...(options.replicas ? ['--cluster-replicas', '1'] : []),
      '--cluster-yes',
    ]);
    for (const { port } of nodes) {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      try {
        const deadline = Date.now() + 20_000;
        // A replica counts once it has its primary's data too: a failover then loses nothing.
        const ready = async (): Promise<boolean> => {
          if (!String(await client.call('CLUSTER', 'INFO')).includes('cluster_state:ok'))
            return false;
          const replication = String(await client.call('INFO', 'replication'));
          return (
            !replication.includes('role:slave') || replication.includes('master_link_status:up')
          );
        };
        while (!(await ready())) {
          if (Date.now() > deadline) throw new Error(`cluster node ${port} never reached state ok`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        client.disconnect();
      }
    }
    const ready = new Cluster(nodes.map((n) => ({ ...n })));
    admin = ready;
    await new Promise<void>((resolve, reject) => {
      ready.once('ready', resolve);
      ready.once('error', reject);
    });
    return { servers, nodes, admin: ready, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
