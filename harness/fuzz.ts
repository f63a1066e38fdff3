import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLOCK_TICKS, cpuTicks, haveCommand, killAllNow, rssBytes, stopAll } from '../bench/procs';
import { deriveTokenEncryptionKey } from '../config/load-config';
import { createTokenVault } from '../server/session/token-vault';
import { levelOf, parseLogLine, runsOf, Secrets, stackSignIn, tokenShapedIn } from './checks';
import { readFlags } from './flags';
import { generate, type FuzzContext, type FuzzRequest } from './fuzz-cases';
import { HANDOFF_SCENARIOS, LaneFinds, runScenario, type LaneContext } from './handoff-lane';
import { Connection, header, printable, responseText, type RawResponse } from './raw-http';
import { rawCases, slowloris, type RawContext, type SlowlorisReport } from './raw-cases';
import { setCookies } from './client';
import { answerPart, bump, FailureBook, histogramLine, mb } from './report';
import type { ForwardedLine } from './emulator-process';
import { Rng } from './rng';
import { SessionPool, USER_IDS } from './session-pool';
import {
  commitBuild,
  currentBuild,
  startRedis,
  startStack,
  type GatewayBuild,
  type Redis,
  type StoreKind,
} from './stack';

/**
 * `npm run fuzz`: hostile traffic against the real gateway on loopback (its own process, the
 * Genesys emulator as another, SQLite and Redis stores), bounded and reproducible from its seed.
 * Exits 1 on any 5xx, a crash, a token or stack trace in an answer or a log line, an error-level
 * log line, a desync on a raw socket, a valid request left unanswered, or RSS growth past the
 * bound. See docs/hardening.md.
 */

const USAGE = `usage: npm run fuzz -- [--seed N] [--requests N] [--concurrency N] [--stores sqlite,redis]
       [--rss-bound MB] [--slowloris N] [--gateway <git ref>] [--replay N,M,…] [--embedded]
  --seed        seed of the random requests (default: random, printed)
  --requests    random requests per store (default 100000)
  --concurrency connections sending them at once (default 16)
  --stores      gateway stores, in order (default sqlite,redis)
  --rss-bound   most the gateway's RSS may grow from warm-up to the end, in MB (default 64)
  --slowloris   slow connections held open during each store's run (default 16; 0: none)
  --gateway     fuzz the gateway built from this commit (a temporary worktree) instead of dist/
  --replay      send only these request numbers of the seed, printing each request and answer
  --embedded    run the gateway embedded (EMBED_ORIGINS=genesys): pool logins through the popup
                and handoff, the popup routes attacked, and the handoff lane beside the requests`;

interface Options {
  readonly seed: number;
  readonly requests: number;
  readonly concurrency: number;
  readonly stores: readonly StoreKind[];
  readonly rssBoundMb: number;
  readonly slowloris: number;
  readonly gateway: string | undefined;
  readonly replay: readonly number[] | undefined;
  readonly embedded: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const flags = readFlags(argv, USAGE, ['embedded']);
  const int = (name: string, fallback: number, min: number): number => {
    const raw = flags.take(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return n;
  };
  const seed = int('seed', randomInt(1, 2 ** 31 - 1), 0);
  const requests = int('requests', 100_000, 1);
  const concurrency = int('concurrency', 16, 1);
  const rssBoundMb = int('rss-bound', 64, 1);
  const slowlorisSockets = int('slowloris', 16, 0);
  const storesRaw = flags.take('stores') ?? 'sqlite,redis';
  const stores = storesRaw.split(',').map((s) => s.trim());
  for (const s of stores) {
    if (s !== 'sqlite' && s !== 'redis') throw new Error(`--stores: unknown store ${s}`);
  }
  const gateway = flags.take('gateway');
  const embedded = flags.take('embedded') !== undefined;
  const replayRaw = flags.take('replay');
  const replay = replayRaw?.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--replay: ${s} is not a request number`);
    return n;
  });
  flags.done();
  return {
    seed,
    requests,
    concurrency,
    stores: stores as StoreKind[],
    rssBoundMb,
    slowloris: slowlorisSockets,
    gateway,
    replay,
    embedded,
  };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** Per request: a valid request still unanswered after this is a failure. */
const ANSWER_MS = 10_000;
/** Requests kept for naming the request behind a log line (by its X-Request-Id). */
const RECENT = 20_000;
const SESSIONS_PER_KIND = 4;
const WARMUP_REQUESTS = 5000;
/** What a random `POST /auth/handoff` of an embedded run may answer: its code is never a live one. */
const DEAD_HANDOFF_STATUSES = new Set([400, 403, 405, 413, 415]);
/** With no client connected the gateway exits at once on SIGTERM; its drain deadline is 10 s. */
const STOP_BOUND_S = 5;

interface StoreResult {
  readonly store: StoreKind;
  /** `sqlite`, or `sqlite embedded`. */
  readonly label: string;
  readonly requests: number;
  readonly seconds: number;
  readonly statuses: Map<string, number>;
  readonly rawStatuses: Map<string, number>;
  readonly rawRuns: number;
  readonly rawCases: number;
  /** Embedded: the handoff lane's scenario runs, and its answers by step and status. */
  readonly handoff: { runs: number; steps: Map<string, number> } | undefined;
  readonly slow: SlowlorisReport | undefined;
  readonly rss: { start: number; warm: number; max: number; end: number };
  readonly levels: Map<string, number>;
  readonly warnings: Map<string, number>;
  readonly noRequestId: Map<string, number>;
  readonly logins: number;
  readonly exitCode: number | null;
  readonly stopSeconds: number;
  /** V8 heap used by the harness itself when the store's run ended. */
  readonly harnessHeap: number;
  /** CPU while the random requests ran, % of one core. */
  readonly cpu: { gateway: number; emulator: number; harness: number };
  readonly book: FailureBook;
}

/** A worker's kept connection, and the request it last answered. */
interface WorkerState {
  conn: Connection | undefined;
  last: FuzzRequest | undefined;
}

/** `GET /session` of a label `GET /session +tags`. */
function whereOf(label: string): string {
  return label.split(' ').slice(0, 2).join(' ');
}

/**
 * Runs in the answer that legitimately look like tokens: in cookies and redirects (session id,
 * login state, PKCE challenge) and a session handle (SPEC Part 2, opaque base64url too).
 */
function legitimateRuns(res: RawResponse): string {
  const lines = res.head.split('\r\n').filter((line) => /^(set-cookie|location):/i.test(line));
  // Embedded, a popup login's code (its page) and ticket (the login URL) are such runs too.
  const handles =
    res.body
      .toString('latin1')
      .match(/"handle"\s*:\s*"[^"]*"|"loginUrl"\s*:\s*"[^"]*"|data-code="[^"]*"/g) ?? [];
  return [...lines, ...handles].join('\n');
}

async function fuzzStore(
  store: StoreKind,
  build: GatewayBuild,
  redis: Redis | undefined,
  options: Options,
  dataDir: string,
): Promise<StoreResult> {
  const book = new FailureBook();
  const statuses = new Map<string, number>();
  const rawStatuses = new Map<string, number>();
  const levels = new Map<string, number>();
  const warnings = new Map<string, number>();
  const noRequestId = new Map<string, number>();
  const recent = new Map<string, FuzzRequest>();
  const pendingLines: { line: string; kind: string; at: number }[] = [];
  const pendingForwarded: { call: ForwardedLine['forwarded']; at: number }[] = [];
  const secrets = new Secrets();
  let stopping = false;
  let aborted = false;

  const remember = (id: string, req: FuzzRequest): void => {
    // Only what a report prints: a request's body may be a megabyte.
    recent.set(id, { ...req, bytes: Buffer.from(req.bytes.subarray(0, 2048)) });
    if (recent.size > RECENT) recent.delete(recent.keys().next().value as string);
  };

  /** A log line of the gateway: its level, and what it must never hold. */
  const onLogLine = (raw: string, stream: 'stdout' | 'stderr'): void => {
    const line = parseLogLine(raw);
    if (line.json === undefined) {
      bump(levels, `non-JSON ${stream}`);
      book.add('non-JSON log output', stream, { label: stream, detail: printable(raw, 400) });
      return;
    }
    const level = levelOf(line) ?? 0;
    const label = typeof line.json.level === 'string' ? line.json.level : String(level);
    bump(levels, label);
    if (level >= 40 && warnings.size < 50) bump(warnings, `${label}: ${String(line.json.msg)}`);
    const runs = runsOf(raw);
    const secret =
      runs.length > 0 || raw.includes('secret') ? secrets.findIn(raw, runs) : undefined;
    const sign = stackSignIn(raw);
    // Token-shaped values, leaving out the fields that echo the client's own input.
    let shaped: string | undefined;
    if (runs.some((r) => r.length === 43)) {
      const rest: Record<string, unknown> = { ...line.json };
      for (const echoed of ['requestId', 'path', 'target']) delete rest[echoed];
      shaped = tokenShapedIn(JSON.stringify(rest), '');
    }
    const kind =
      secret !== undefined
        ? 'token in the log'
        : level >= 50
          ? `error-level log line${sign !== undefined ? ' with a stack trace' : ''}`
          : shaped !== undefined
            ? 'token-shaped value in the log'
            : sign !== undefined
              ? 'stack trace in the log'
              : undefined;
    if (kind !== undefined) pendingLines.push({ line: raw, kind, at: Date.now() });
  };

  /** Log lines and upstream calls worth a failure, named by their request once its answer is in. */
  const flushLines = (force: boolean): void => {
    const now = Date.now();
    for (let i = 0; i < pendingForwarded.length;) {
      const { call, at } = pendingForwarded[i] as (typeof pendingForwarded)[number];
      const req = call.requestId !== undefined ? recent.get(call.requestId) : undefined;
      if (req === undefined && !force && now - at < 3000) {
        i += 1;
        continue;
      }
      pendingForwarded.splice(i, 1);
      book.add('bad call to Genesys', req ? whereOf(req.label) : `${call.method} ${call.path}`, {
        ...(req ? { n: req.n } : {}),
        label: req?.label ?? `request id ${call.requestId ?? 'none'}`,
        detail: `${call.method} ${call.path} upstream carried: ${call.problems.join(', ')}`,
        ...(req ? { request: printable(req.bytes) } : {}),
      });
    }
    for (let i = 0; i < pendingLines.length;) {
      const { line, kind, at } = pendingLines[i] as (typeof pendingLines)[number];
      const parsed = parseLogLine(line);
      const id = typeof parsed.json?.requestId === 'string' ? parsed.json.requestId : undefined;
      const req = id !== undefined ? recent.get(id) : undefined;
      if (req === undefined && !force && now - at < 3000) {
        i += 1;
        continue;
      }
      pendingLines.splice(i, 1);
      const msg = parsed.json?.msg;
      const where = req ? whereOf(req.label) : typeof msg === 'string' ? msg : 'log';
      book.add(kind, where, {
        ...(req ? { n: req.n } : {}),
        label: req?.label ?? `request id ${id ?? 'none'}`,
        detail: printable(line, 700),
        ...(req ? { request: printable(req.bytes) } : {}),
      });
    }
  };

  const checkAnswer = (res: RawResponse, sent: Buffer, label: string, n?: number): void => {
    const text = responseText(res);
    const sentText = sent.toString('latin1');
    const fail = (kind: string, detail: string): void =>
      book.add(kind, whereOf(label), {
        ...(n !== undefined ? { n } : {}),
        label,
        detail,
        request: printable(sent),
        ...answerPart(res),
      });
    if (res.status >= 500) fail(String(res.status), `the gateway answered ${res.status}`);
    const runs = runsOf(text);
    const secret = secrets.findIn(text, runs);
    if (secret !== undefined) fail('token leak', `the answer holds ${secret}`);
    const shaped =
      runs.length === 0
        ? undefined
        : tokenShapedIn(text, `${sentText}\n${legitimateRuns(res)}`, runs);
    if (shaped !== undefined)
      fail('token-shaped value', `the answer holds ${shaped}, not sent by the client`);
    const sign = stackSignIn(text, sentText);
    if (sign !== undefined) fail('stack trace in answer', sign);
    if (header(res, 'x-request-id') === undefined) bump(noRequestId, String(res.status));
  };

  const label = options.embedded ? `${store} embedded` : store;
  say(`\n== ${label}: starting the emulator and the gateway (${build.label})`);
  const onForwarded = (call: ForwardedLine['forwarded']): void => {
    pendingForwarded.push({ call, at: Date.now() });
  };
  const running = await startStack({
    build,
    store,
    dataDir,
    redis,
    secrets,
    onLogLine,
    onForwarded,
    ...(options.embedded ? { embedOrigins: 'genesys' } : {}),
  });
  const pid = running.gateway.pid;
  running.gateway.once('exit', (code, signal) => {
    if (stopping) return;
    aborted = true;
    book.add('crash', 'gateway', {
      label: 'gateway process',
      detail: `exited during the run (code ${String(code)}, signal ${String(signal)}); log: ${running.logFile}`,
    });
  });
  const lineTimer = setInterval(() => flushLines(false), 1000);

  const pool = new SessionPool(running, SESSIONS_PER_KIND, options.embedded);
  await pool.fill();
  // The gateway's mode names the cookie (bff.sid, or __Host-Http-session embedded): as set.
  const cookieName = pool.cookieName ?? 'no-login-succeeded';
  // Popup tickets sealed as the gateway does, with the key its SESSION_SECRET derives.
  const vault = createTokenVault([deriveTokenEncryptionKey(running.sessionSecret)]);
  const finds = new LaneFinds((plain) => vault.seal(plain));
  const handoffSteps = new Map<string, number>();
  const laneCtx: LaneContext = {
    target: running,
    seed: options.seed,
    cookieName: () => pool.cookieName,
    check: (res, sent, what) => checkAnswer(res, sent, what),
    fail: (kind, what, detail, sent, res) =>
      book.add(kind, what, {
        label: what,
        detail,
        ...(sent ? { request: printable(sent) } : {}),
        ...answerPart(res),
      }),
    count: (step) => bump(handoffSteps, step.replace(/:\S+/, '')),
  };
  let handoffRuns = 0;
  if (options.embedded) {
    // One scenario first, so the random requests have a binding, a ticket and a spent code.
    await runScenario(laneCtx, finds, 0);
    handoffRuns += 1;
  }
  const ctx: FuzzContext = {
    seed: options.seed,
    port: running.port,
    origin: running.origin,
    sessionSecret: running.sessionSecret,
    adminUserId: USER_IDS.admin,
    agentUserId: USER_IDS.agent,
    cookieName,
    ...(options.embedded ? { embedded: finds } : {}),
    session: (kind, rng) => pool.pick(kind, rng),
  };

  const rss = { start: rssBytes(pid), warm: 0, max: 0, end: 0 };
  const rssTimer = setInterval(() => {
    rss.max = Math.max(rss.max, rssBytes(pid));
  }, 500);

  const replay = options.replay;
  const numbers = replay ?? Array.from({ length: options.requests }, (_, i) => i);
  // Warm-up: the heap grows to its working size over the first few thousand requests (RSS
  // plateaus at about 150-170 MB after ~5 000 on either store); growth after that is suspect.
  const warmupCount = Math.min(
    Math.max(WARMUP_REQUESTS, Math.floor(numbers.length / 10)),
    Math.floor(numbers.length / 2),
  );
  let done = 0;
  let nextIndex = 0;
  const t0 = Date.now();
  const gatewayTicks0 = cpuTicks(pid);
  const emulatorTicks0 = cpuTicks(running.emulatorPid);
  const harnessCpu0 = process.cpuUsage();

  /** One random request on the worker's connection (a fresh one when it must be). */
  const sendOne = async (req: FuzzRequest, state: WorkerState): Promise<void> => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      let conn = state.conn;
      // An answer that arrived on the idle connection after the previous one: nothing asked.
      if (conn !== undefined && conn.extra.length > 0 && state.last !== undefined) {
        book.add('desync', whereOf(state.last.label), {
          n: state.last.n,
          label: state.last.label,
          detail: `${conn.extra.length} answer(s) arrived later, with no request outstanding`,
          request: printable(state.last.bytes),
          ...answerPart(conn.extra[0]),
        });
        conn.destroy();
        conn = undefined;
      }
      if (req.fresh || conn === undefined || !conn.reusable) {
        conn?.destroy();
        try {
          conn = await Connection.open(running.port);
        } catch (err) {
          bump(statuses, 'connect-failed');
          book.add('refused', whereOf(req.label), {
            n: req.n,
            label: req.label,
            detail: String(err),
          });
          state.conn = undefined;
          return;
        }
        state.conn = conn;
      }
      const reused = conn.sent > 0;
      const want = conn.sent + 1;
      conn.write(req.bytes, [req.method]);
      const wait = req.stream
        ? await conn.untilHead(want, ANSWER_MS)
        : await conn.until(want, ANSWER_MS);
      if (wait === 'ok') {
        const res = (conn.response(want - 1) ?? conn.head(want - 1)) as RawResponse;
        conn.release();
        state.last = req;
        handleAnswer(req, res);
        if (conn.extra.length > 0) {
          book.add('desync', whereOf(req.label), {
            n: req.n,
            label: req.label,
            detail: `${conn.extra.length} answer(s) beyond the requests sent`,
            request: printable(req.bytes),
            ...answerPart(conn.extra[0]),
          });
        }
        if (conn.parseError !== undefined) {
          book.add('garbled answer', whereOf(req.label), {
            n: req.n,
            label: req.label,
            detail: conn.parseError,
            request: printable(req.bytes),
          });
        }
        if (req.fresh || req.stream || conn.extra.length > 0) {
          conn.destroy();
          state.conn = undefined;
        }
        return;
      }
      // A kept connection the gateway closed just as this request went out: retry once, as a
      // browser does (the request got no byte of an answer).
      const silent = conn.headsSeen < want;
      conn.destroy();
      state.conn = undefined;
      if (wait === 'closed' && reused && silent && attempt === 0) continue;
      bump(statuses, wait);
      // A valid request must be answered; any request, valid or not, must be answered or its
      // connection closed within ANSWER_MS (a request left hanging holds a socket for good).
      if (req.wellFormed || wait === 'timeout') {
        book.add(wait === 'timeout' ? 'no answer' : 'dropped', whereOf(req.label), {
          n: req.n,
          label: req.label,
          detail:
            wait === 'timeout'
              ? `neither answered nor closed within ${ANSWER_MS / 1000} s`
              : 'the connection closed without an answer',
          request: printable(req.bytes),
        });
      }
      return;
    }
  };

  const handleAnswer = (req: FuzzRequest, res: RawResponse): void => {
    bump(statuses, String(res.status));
    const id = req.requestId ?? header(res, 'x-request-id');
    if (id !== undefined) remember(id, req);
    checkAnswer(res, req.bytes, req.label, req.n);
    if (req.handoff) checkDeadHandoff(req, res);
    if (req.session !== undefined) {
      if (res.status === 401) pool.ended(req.session);
      if (req.endsSession && (res.status === 204 || res.status === 303)) pool.ended(req.session);
      if (req.revokesUser !== undefined && res.status === 204) pool.revoked(req.revokesUser);
    }
    if (replay !== undefined) {
      say(
        `#${req.n} [${req.label}]\n  request: ${printable(req.bytes, 4000)}\n  answer:  ${printable(responseText(res), 4000)}`,
      );
    }
  };

  /** A random handoff: its code was never live (random, spent, malformed), so never a session. */
  const checkDeadHandoff = (req: FuzzRequest, res: RawResponse): void => {
    const session = setCookies(res).has(cookieName);
    const kind =
      res.status === 204 || session
        ? 'dead code accepted'
        : DEAD_HANDOFF_STATUSES.has(res.status)
          ? undefined
          : 'handoff status';
    if (kind === undefined) return;
    book.add(kind, whereOf(req.label), {
      n: req.n,
      label: req.label,
      detail: `a handoff with no live code answered ${res.status}${session ? ' with a session cookie' : ''}`,
      request: printable(req.bytes),
      ...answerPart(res),
    });
  };

  const worker = async (): Promise<void> => {
    const state: WorkerState = { conn: undefined, last: undefined };
    while (!aborted && nextIndex < numbers.length) {
      const n = numbers[nextIndex] as number;
      nextIndex += 1;
      const req = generate(ctx, n);
      if (req.revokesUser !== undefined) {
        await pool.whileRevoking(req.revokesUser, () => sendOne(req, state));
      } else if (mayRevoke(req)) {
        // A mutated path may still name a real user (a percent-encoded letter of the id): the
        // emulator's revoke of a user also voids that user's pending authorization codes, so a
        // pool login in flight would rightly fail at its callback. Keep logins of both out.
        await pool.whileRevoking('agent', () =>
          pool.whileRevoking('admin', () => sendOne(req, state)),
        );
      } else await sendOne(req, state);
      done += 1;
      if (done === warmupCount) rss.warm = rssBytes(pid);
      if (done % 20_000 === 0) {
        say(
          `   ${store}: ${done} requests, ${Math.round(done / ((Date.now() - t0) / 1000))} req/s, gateway RSS ${mb(rssBytes(pid))}`,
        );
      }
    }
    state.conn?.destroy();
  };

  // The raw-socket cases beside the random traffic: every case at least once, then again
  // until the random requests are done.
  let mainDone = false;
  let rawRuns = 0;
  const cases = rawCases();
  const rawCtx: RawContext = {
    port: running.port,
    seed: options.seed,
    session: (kind, rng) => pool.pick(kind, rng),
    check: (res, sent, label) => checkAnswer(res, sent, `raw ${label}`),
    fail: (kind, label, detail, sent, res) =>
      book.add(kind, `raw ${label}`, {
        label: `raw ${label}`,
        detail,
        request: printable(sent),
        ...answerPart(res),
      }),
    count: (label, outcome) => bump(rawStatuses, outcome),
  };
  const rawLane = async (lane: number, lanes: number): Promise<void> => {
    const order = new Rng(options.seed ^ 0x5bd1e995);
    const shuffled = [...cases].sort(() => order.next() - 0.5);
    for (let pass = 0; !aborted; pass += 1) {
      for (let i = lane; i < shuffled.length; i += lanes) {
        if (aborted || (pass > 0 && mainDone)) return;
        const c = shuffled[i] as (typeof shuffled)[number];
        const id = `raw-${options.seed}-${pass}-${i}`;
        try {
          await c.run(rawCtx, Rng.for(options.seed ^ 0x27d4eb2f, pass * shuffled.length + i), id);
        } catch (err) {
          rawCtx.fail(
            'raw case error',
            c.name,
            err instanceof Error ? err.message : String(err),
            Buffer.alloc(0),
          );
        }
        rawRuns += 1;
      }
      if (mainDone) return;
    }
  };

  // Embedded: the handoff lane's scenarios, every one at least once, then again until the
  // random requests are done.
  const handoffLane = async (lane: number, lanes: number): Promise<void> => {
    for (let n = 1 + lane; !aborted; n += lanes) {
      if (mainDone && n > HANDOFF_SCENARIOS) return;
      await runScenario(laneCtx, finds, n);
      handoffRuns += 1;
    }
  };

  const random = Promise.all(
    Array.from({ length: Math.min(options.concurrency, numbers.length) }, worker),
  ).then(() => {
    mainDone = true;
  });
  const rawDone =
    replay !== undefined ? Promise.resolve() : Promise.all([rawLane(0, 2), rawLane(1, 2)]);
  const handoffDone =
    replay === undefined && options.embedded
      ? Promise.all([handoffLane(0, 2), handoffLane(1, 2)])
      : Promise.resolve();
  const slow =
    replay === undefined && options.slowloris > 0
      ? slowloris(rawCtx, options.slowloris, () => aborted || mainDone)
      : Promise.resolve(undefined);
  await random;
  const seconds = (Date.now() - t0) / 1000;
  // Under the same load as the warm-up sample: once idle, V8 gives memory back and RSS drops.
  rss.end = rssBytes(pid);
  const harnessUsed = process.cpuUsage(harnessCpu0);
  const cpu = {
    gateway: ((cpuTicks(pid) - gatewayTicks0) / CLOCK_TICKS / seconds) * 100,
    emulator: ((cpuTicks(running.emulatorPid) - emulatorTicks0) / CLOCK_TICKS / seconds) * 100,
    harness: ((harnessUsed.user + harnessUsed.system) / 1e6 / seconds) * 100,
  };
  const [, slowReport] = await Promise.all([rawDone, slow, handoffDone]);
  await pool.close();

  clearInterval(rssTimer);
  rss.max = Math.max(rss.max, rss.end);
  if (rss.warm === 0) rss.warm = rss.start;
  const growth = rss.end - rss.warm;
  if (replay === undefined && growth > options.rssBoundMb * 1024 * 1024) {
    book.add('RSS growth', 'gateway', {
      label: 'gateway process',
      detail: `RSS grew ${mb(growth)} from warm-up (${mb(rss.warm)}) to the end (${mb(rss.end)}); the bound is ${options.rssBoundMb} MB`,
    });
  }

  // Every connection of the harness is closed by now: the gateway has nothing in flight and
  // must exit at once. A request it still counts as in flight holds it to the drain deadline.
  stopping = true;
  const stopStarted = Date.now();
  const exitCode = aborted ? running.gateway.exitCode : await running.stopGateway();
  const stopSeconds = (Date.now() - stopStarted) / 1000;
  if (!aborted && exitCode !== 0) {
    book.add('unclean exit', 'gateway', {
      label: 'gateway process',
      detail: `exit code ${String(exitCode)} after SIGTERM`,
    });
  }
  if (!aborted && stopSeconds > STOP_BOUND_S) {
    book.add('slow shutdown', 'gateway', {
      label: 'gateway process',
      detail: `took ${stopSeconds.toFixed(1)} s to exit after SIGTERM with no client connected (bound ${STOP_BOUND_S} s): a request stayed in flight`,
    });
  }
  await running.stop();
  clearInterval(lineTimer);
  flushLines(true);
  // The whole log once more, now that every token of the run is known.
  for (const raw of fs.readFileSync(running.logFile, 'utf8').split('\n')) {
    const secret = raw === '' ? undefined : running.secrets.findIn(raw);
    if (secret !== undefined) {
      book.add('token in the log', 'log', {
        label: 'log line',
        detail: `${secret}: ${printable(raw, 500)}`,
      });
    }
  }
  for (const [step, count] of pool.failures) {
    book.add('login failed', step, {
      label: 'login through the emulator',
      detail: `${count} logins failed at ${step}`,
    });
  }
  return {
    store,
    label,
    requests: done,
    seconds,
    statuses,
    rawStatuses,
    rawRuns,
    rawCases: cases.length,
    handoff: options.embedded ? { runs: handoffRuns, steps: handoffSteps } : undefined,
    slow: slowReport,
    rss,
    levels,
    warnings,
    noRequestId,
    logins: pool.logins,
    exitCode,
    stopSeconds,
    harnessHeap: process.memoryUsage().heapUsed,
    cpu,
    book,
  };
}

function printStore(result: StoreResult, options: Options): void {
  const r = result;
  say(
    `\n${r.label}: ${r.requests} random requests in ${r.seconds.toFixed(1)} s (${Math.round(r.requests / r.seconds)} req/s), ${r.logins} logins through the emulator; CPU: gateway ${Math.round(r.cpu.gateway)} %, emulator ${Math.round(r.cpu.emulator)} %, harness ${Math.round(r.cpu.harness)} % of a core (harness heap ${mb(r.harnessHeap)} at the end)`,
  );
  say(`  statuses: ${histogramLine(r.statuses)}`);
  say(
    `  raw-socket cases: ${r.rawRuns} runs of ${r.rawCases} cases; outcomes: ${histogramLine(r.rawStatuses)}`,
  );
  if (r.handoff !== undefined) {
    say(
      `  handoff lane: ${r.handoff.runs} scenario runs (${HANDOFF_SCENARIOS} scenarios); answers by step: ${histogramLine(r.handoff.steps)}`,
    );
  }
  if (r.slow !== undefined) {
    const cut = r.slow.cut.map(
      (c) => `${c.afterSeconds}s${c.status !== undefined ? `/${c.status}` : ''}`,
    );
    say(
      `  slowloris: ${r.slow.sockets} slow connections, ${r.slow.cut.length} cut by the gateway${cut.length > 0 ? ` (${[...new Set(cut)].slice(0, 6).join(', ')})` : ''}, ${r.slow.stillOpen} still open at the end; ${r.slow.probes} fresh-connection probes meanwhile, slowest ${r.slow.probeMaxMs} ms, ${r.slow.probeFailures} failed`,
    );
  }
  say(
    `  gateway RSS: ${mb(r.rss.start)} after the logins, ${mb(r.rss.warm)} after warm-up, ${mb(r.rss.max)} max, ${mb(r.rss.end)} at the end (${r.rss.end >= r.rss.warm ? '+' : ''}${mb(r.rss.end - r.rss.warm)} since warm-up; bound ${options.rssBoundMb} MB)`,
  );
  say(
    `  gateway log lines: ${histogramLine(r.levels)}; exit code after SIGTERM: ${String(r.exitCode)} in ${r.stopSeconds.toFixed(1)} s`,
  );
  if (r.warnings.size > 0) {
    say(
      `  warn+ messages: ${[...r.warnings]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([m, c]) => `${JSON.stringify(m)} ×${c}`)
        .join(', ')}`,
    );
  }
  if (r.noRequestId.size > 0)
    say(`  answers without X-Request-Id (node's own refusals): ${histogramLine(r.noRequestId)}`);
  if (r.book.kinds > 0) {
    say(`  ${r.book.total} failures of ${r.book.kinds} kinds:`);
    for (const line of r.book.lines()) say(line);
  } else say('  no failures');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.stores.includes('redis') && !haveCommand('redis-server')) {
    throw new Error(
      'redis-server is not installed (Debian: apt-get install -y redis-server), or run --stores sqlite',
    );
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-fuzz-'));
  const build =
    options.gateway !== undefined ? commitBuild(options.gateway, say) : currentBuild(dataDir);
  const began = Date.now();
  say(
    `fuzz: seed ${options.seed}, ${options.replay ? `replaying requests ${options.replay.join(',')}` : `${options.requests} requests per store`}, concurrency ${options.concurrency}, stores ${options.stores.join(',')}${options.embedded ? ' (embedded)' : ''}, gateway ${build.label}`,
  );
  say(
    `  again: npm run fuzz -- --seed ${options.seed} --requests ${options.requests} --stores ${options.stores.join(',')}${options.embedded ? ' --embedded' : ''}${build.commit !== undefined ? ` --gateway ${build.commit}` : ''}`,
  );
  const results: StoreResult[] = [];
  let redis: Redis | undefined;
  try {
    for (const store of options.stores) {
      if (store === 'redis' && redis === undefined) redis = await startRedis(dataDir);
      const result = await fuzzStore(store, build, redis, options, dataDir);
      results.push(result);
      printStore(result, options);
    }
  } finally {
    await stopAll();
    build.remove();
  }
  const failures = results.reduce((sum, r) => sum + r.book.total, 0);
  const total = results.reduce((sum, r) => sum + r.requests, 0);
  const seconds = (Date.now() - began) / 1000;
  const perStore = results
    .map(
      (r) =>
        `${r.label} ${r.book.total === 0 ? 'ok' : `${r.book.total} failures (${r.book.kinds} kinds)`}`,
    )
    .join(', ');
  if (failures === 0) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    say(
      `\nfuzz: PASS — seed ${options.seed}, ${total} requests on ${results.length} stores in ${seconds.toFixed(0)} s: ${perStore}`,
    );
  } else {
    say(`\ngateway logs kept in ${dataDir}`);
    say(
      `fuzz: FAIL — seed ${options.seed}, ${total} requests on ${results.length} stores in ${seconds.toFixed(0)} s: ${perStore}`,
    );
    process.exitCode = 1;
  }
}

process.once('exit', () => killAllNow());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopAll().then(() => process.exit(130));
  });
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`fuzz failed: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof Error && /^(--|unknown option|unexpected argument)/.test(err.message)) {
      process.stderr.write(`${USAGE}\n`);
    }
    process.exitCode = 1;
  })
  // Every child is stopped by now; bench/procs.ts stop() leaves its grace timer (15 s for the
  // gateway) running, which would hold the process that long after the verdict.
  .finally(() => process.exit());

/** An admin's DELETE on the user-revoke route whose target the generator could not pin down. */
function mayRevoke(req: FuzzRequest): boolean {
  return (
    req.method === 'DELETE' &&
    req.session?.kind === 'admin' &&
    req.label.includes('/admin/users/{id}/tokens')
  );
}
