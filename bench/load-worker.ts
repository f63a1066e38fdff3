import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';

/**
 * The load generator, run as its own `node` process by bench/run.ts: the job comes as JSON on
 * stdin; JSON lines go to stdout, `{event: 'measuring'}` when the measured run starts, then
 * `{event: 'done', result}`. A separate process, because a load generator that
 * shares the servers' event loop steals the very CPU it is measuring.
 */

export interface LoadRequest {
  readonly method: 'GET' | 'HEAD';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface LoadJob {
  readonly url: string;
  /** Each connection cycles through these, starting at its own offset. */
  readonly requests: readonly LoadRequest[];
  readonly connections: number;
  readonly durationSeconds: number;
  /** Same load before the measured run, thrown away: JIT, keep-alive pools, store caches. */
  readonly warmupSeconds: number;
  /** When set, a 2xx body without this text counts as a mismatch (a pretty number from a broken answer). */
  readonly bodyIncludes?: string;
}

export interface LoadResult {
  /** Responses received in the measured run, whatever their status. */
  readonly responses: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Connection errors, timeouts included. */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly mismatches: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  /** CPU the load generator used, in % of one core: near 100 means it, not the server, was the limit. */
  readonly loaderCpuPercent: number;
}

/** Spreads the connections evenly over the request list, so concurrent requests use different sessions. */
function rotated(requests: readonly LoadRequest[], offset: number): autocannon.Request[] {
  return requests.map((_, i) => {
    const r = requests[(i + offset) % requests.length] as LoadRequest;
    return { method: r.method, path: r.path, headers: { ...r.headers } };
  });
}

function phase(job: LoadJob, seconds: number, measure: boolean): Promise<LoadResult> {
  // autocannon's own percentiles are whole milliseconds; loopback latencies need finer ones.
  const latency = createHistogram();
  let responses = 0;
  let nextClient = 0;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: seconds,
        // A hung request must count as a timeout within the run, however short: loopback answers
        // take milliseconds, so even a 1 s run's 1 s timeout only catches what never answers.
        timeout: Math.min(10, seconds),
        requests: rotated(job.requests, 0),
        setupClient: (client) => {
          const offset = Math.floor((nextClient * job.requests.length) / job.connections);
          nextClient += 1;
          client.setRequests(rotated(job.requests, offset));
        },
        ...(job.bodyIncludes === undefined
          ? {}
          : {
              verifyBody: (body) => String(body).includes(job.bodyIncludes as string),
            }),
      },
      (err, result) => {
        if (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
        const cpu = process.cpuUsage(cpuBefore);
        const statusCodes: Record<string, number> = {};
        for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
          statusCodes[code] = (stats as { count: number }).count;
        }
        const count = latency.count;
        resolve({
          responses,
          seconds: elapsed,
          requestsPerSecond: responses / elapsed,
          p50Ms: count > 0 ? latency.percentile(50) / 1e6 : 0,
          p99Ms: count > 0 ? latency.percentile(99) / 1e6 : 0,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          mismatches: result.mismatches,
          statusCodes,
          loaderCpuPercent: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
        });
      },
    );
    if (measure) {
      instance.on('response', (_client, _status, _bytes, responseTime) => {
        responses += 1;
        // Nanoseconds, at least 1: the histogram takes positive integers only.
        latency.record(Math.max(1, Math.round(responseTime * 1e6)));
      });
    }
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as LoadJob;
  if (job.warmupSeconds > 0) await phase(job, job.warmupSeconds, false);
  // Tells the parent to start sampling the servers' CPU over the measured window only.
  process.stdout.write(`${JSON.stringify({ event: 'measuring' })}\n`);
  const result = await phase(job, job.durationSeconds, true);
  process.stdout.write(`${JSON.stringify({ event: 'done', result })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`load worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
