import { randomFillSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * A request's place in a W3C Trace Context trace (level 1, https://www.w3.org/TR/trace-context/):
 * the caller's trace id and flags when its `traceparent` was valid, a new trace otherwise. Each
 * call to Genesys made for the request sends its own parent-id under this trace id
 * (docs/tracing.md).
 */
export interface TraceContext {
  /** 32 lowercase hex digits, never all zeros. */
  readonly traceId: string;
  /** 2 lowercase hex digits: the caller's, or `00` for a trace the gateway started. */
  readonly flags: string;
  /** The caller's `tracestate`, checked and bounded; only ever kept with a valid traceparent. */
  readonly tracestate: string | undefined;
  /** Where this request's parent-ids start: 8 random bytes, in two halves for cheap counting. */
  readonly spanHigh: string;
  readonly spanLow: number;
  /** How many parent-ids this request has handed out; bumped by nextTraceparent. */
  spans: number;
}

/** The parts of a traceparent the gateway keeps: the caller's parent-id is replaced on each call. */
export interface Traceparent {
  readonly traceId: string;
  readonly parentId: string;
  readonly flags: string;
}

/** Bytes of randomness a new context takes: a trace id (16) and a parent-id seed (8). */
export const TRACE_RANDOM_BYTES = 24;

/**
 * The most of a `tracestate` passed on: the spec's "at least 512 characters" (tracestate limits), no
 * more, so a caller cannot make every call to Genesys carry kilobytes of its choosing.
 */
export const MAX_TRACESTATE_LENGTH = 512;
/** Entries longer than this go first when a tracestate must be cut (tracestate limits). */
const LONG_ENTRY = 128;
const MAX_ENTRIES = 32;

const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_PARENT_ID = '0'.repeat(16);
// Lowercase only, the spec's HEXDIGLC: an uppercase traceparent is invalid, not normalised. The
// lookahead reads a later version by its version-00 prefix, which must end or go on with a dash.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?=-|$)/;
// Level 1's key: a simple key, or tenant@system for multi-tenant vendors.
const KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
// The value: up to 256 printable ASCII characters except `,` and `=`, not ending in a space.
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
// OWS around list members: spaces and horizontal tabs only.
const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * The trace id, parent-id and flags of a valid `traceparent`, or undefined. Invalid is any
 * version `ff`, a version 00 value of other than 55 characters, an all-zero trace or parent id,
 * anything but lowercase hex where hex belongs. A later version is read as version 00 and its
 * fields after the flags ignored (versioning of traceparent); of its flags only `sampled` is kept, the one level 1
 * knows.
 */
export function parseTraceparent(value: string | undefined): Traceparent | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value);
  if (match === null) return undefined;
  const [whole, version = '', traceId = '', parentId = '', flags = ''] = match;
  const valid =
    version !== 'ff' &&
    traceId !== ZERO_TRACE_ID &&
    parentId !== ZERO_PARENT_ID &&
    (version !== '00' || whole.length === value?.length);
  if (!valid) return undefined;
  const sampledOnly = (parseInt(flags, 16) & 1) === 1 ? '01' : '00';
  return { traceId, parentId, flags: version === '00' ? flags : sampledOnly };
}

/**
 * The `tracestate` to pass on, or undefined: the list members joined without optional whitespace,
 * empty members dropped. A value that breaks the grammar (a bad key or value, a key twice, more
 * than 32 members) is dropped whole rather than repaired: the spec lets a vendor delete entries,
 * not rewrite them, and only printable ASCII survives, so nothing can be injected into a header.
 * Over 512 characters, entries over 128 go first, then entries from the end (tracestate limits).
 */
export function parseTracestate(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const entries: string[] = [];
  const keys = new Set<string>();
  for (const raw of value.split(',')) {
    const member = raw.replace(OWS, '');
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq < 0) return undefined;
    const key = member.slice(0, eq);
    if (!KEY.test(key) || !VALUE.test(member.slice(eq + 1)) || keys.has(key)) return undefined;
    keys.add(key);
    entries.push(member);
    if (entries.length > MAX_ENTRIES) return undefined;
  }
  // Cut from the end, long entries first: the leftmost entries are the most recent positions.
  for (let i = entries.length - 1; i >= 0 && joinedLength(entries) > MAX_TRACESTATE_LENGTH; i--) {
    if ((entries[i] as string).length > LONG_ENTRY) entries.splice(i, 1);
  }
  while (joinedLength(entries) > MAX_TRACESTATE_LENGTH) entries.pop();
  return entries.length === 0 ? undefined : entries.join(',');
}

function joinedLength(entries: readonly string[]): number {
  return entries.reduce((sum, entry) => sum + entry.length, Math.max(entries.length - 1, 0));
}

/**
 * The context of one request from its `traceparent` and `tracestate` header values (a repeated
 * header arrives joined by `, `, which no valid traceparent is) and `random`, at least
 * TRACE_RANDOM_BYTES fresh bytes. A valid traceparent keeps its trace id and flags, and its
 * tracestate; otherwise a new trace starts (flags `00`: the gateway records nothing) and any
 * tracestate is dropped, as the spec asks of a restarted trace.
 */
export function traceContextFrom(
  traceparent: string | undefined,
  tracestate: string | undefined,
  random: Buffer,
): TraceContext {
  const incoming = parseTraceparent(traceparent);
  const spanHigh = random.toString('hex', 16, 20);
  const spanLow = random.readUInt32BE(20);
  if (incoming !== undefined) {
    return {
      traceId: incoming.traceId,
      flags: incoming.flags,
      tracestate: parseTracestate(tracestate),
      spanHigh,
      spanLow,
      spans: 0,
    };
  }
  let traceId = random.toString('hex', 0, 16);
  // One chance in 2^128, but the spec forbids it: excluded rather than trusted away.
  if (traceId === ZERO_TRACE_ID) traceId = `${ZERO_TRACE_ID.slice(1)}1`;
  return { traceId, flags: '00', tracestate: undefined, spanHigh, spanLow, spans: 0 };
}

/**
 * The `traceparent` for the next call to Genesys made for this request: version 00, the trace id
 * and flags, and a parent-id of its own. Parent-ids count up from the request's random seed, so
 * no two calls of a request share one and no call draws randomness of its own.
 */
export function nextTraceparent(trace: TraceContext): string {
  let parentId: string;
  do {
    const low = (trace.spanLow + trace.spans) >>> 0;
    trace.spans += 1;
    parentId = trace.spanHigh + low.toString(16).padStart(8, '0');
  } while (parentId === ZERO_PARENT_ID);
  return `00-${trace.traceId}-${parentId}-${trace.flags}`;
}

// Kept beside the request, not on it, as the request id is (request-id.ts).
const traces = new WeakMap<IncomingMessage, TraceContext>();

/** Records the request's trace context; the http room's traceContext middleware sets it first. */
export function setTraceContext(req: IncomingMessage, trace: TraceContext): void {
  traces.set(req, trace);
}

/**
 * The request's trace context. A request that never went through the traceContext middleware
 * (one Node refused, an app built without it) gets a new trace on first use, so a call to
 * Genesys always carries one and its log lines name it.
 */
export function traceOf(req: IncomingMessage): TraceContext {
  let trace = traces.get(req);
  if (trace === undefined) {
    trace = traceContextFrom(
      undefined,
      undefined,
      randomFillSync(Buffer.alloc(TRACE_RANDOM_BYTES)),
    );
    traces.set(req, trace);
  }
  return trace;
}

/** The request's trace id, for log lines. */
export function traceIdOf(req: IncomingMessage): string {
  return traceOf(req).traceId;
}
