import net from 'node:net';

/**
 * HTTP/1.1 over node:net, byte for byte: node:http's client refuses the requests a hostile
 * client sends (junk methods, raw bytes in paths, CR/LF in headers, two Content-Lengths), and
 * hides what a desync looks like (a second answer nobody asked for). Requests are written as
 * given; answers are framed by their own headers (Content-Length, chunked, or the connection
 * closing), so an answer that arrives without a request is seen and counted.
 */

/** A header as written: name and value, latin1 (one char per byte). */
export type Header = readonly [string, string];

export interface RawRequest {
  readonly method: string;
  /** The request target as written, latin1 (build raw UTF-8 bytes with `latin1Of`). */
  readonly target: string;
  readonly version?: string;
  readonly headers: readonly Header[];
  readonly body?: Buffer;
  /** false: no Content-Length is added; the headers frame the body (or on purpose do not). */
  readonly autoLength?: boolean;
}

/** A string whose UTF-8 bytes are carried one per char, as `serialize` writes latin1. */
export function latin1Of(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** The bytes of a request; adds Content-Length unless the headers frame the body. */
export function serialize(req: RawRequest): Buffer {
  const body = req.body ?? Buffer.alloc(0);
  const headers = [...req.headers];
  const framed = headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  if (req.autoLength !== false && !framed && (body.length > 0 || BODY_METHODS.has(req.method))) {
    headers.push(['Content-Length', String(body.length)]);
  }
  const head =
    `${req.method} ${req.target} ${req.version ?? 'HTTP/1.1'}\r\n` +
    headers.map(([name, value]) => `${name}: ${value}\r\n`).join('') +
    '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

export interface RawResponse {
  readonly status: number;
  readonly version: string;
  /** Names lower-cased, values as sent. */
  readonly headers: readonly Header[];
  /** Status line and header lines as received (latin1). */
  readonly head: string;
  readonly body: Buffer;
  /** The body was ended by the connection closing, not by its own framing. */
  readonly untilClose: boolean;
}

/** The first value of header `name` (lower-case), if any. */
export function header(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n === name)?.[1];
}

/** Every value of header `name` (lower-case). */
export function headers(res: RawResponse, name: string): string[] {
  return res.headers.filter(([n]) => n === name).map(([, v]) => v);
}

type BodyMode =
  | { kind: 'length'; remaining: number }
  | { kind: 'chunked'; step: 'size' | 'data' | 'trailer'; remaining: number }
  | { kind: 'close' };

interface Partial {
  status: number;
  version: string;
  headers: Header[];
  head: string;
  mode: BodyMode;
  chunks: Buffer[];
}

/** Largest answer head accepted before the stream counts as garbage. */
const MAX_HEAD_BYTES = 256 * 1024;

/**
 * Frames answers out of a byte stream. `methodOf(i)` is the method of the i-th request on the
 * connection (HEAD answers carry no body); undefined when no such request was sent.
 */
export class ResponseParser {
  private buffer: Buffer = Buffer.alloc(0);
  private current: Partial | undefined;
  private count = 0;
  /** Set when the stream cannot be HTTP answers any more; parsing stops there. */
  error: string | undefined;

  constructor(
    private readonly methodOf: (index: number) => string | undefined,
    private readonly onResponse: (res: RawResponse, interim: boolean) => void,
    /** A final answer's head, before its body (an event stream's body never ends). */
    private readonly onHead: (head: RawResponse) => void = () => undefined,
  ) {}

  feed(chunk: Buffer): void {
    if (this.error !== undefined) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.parse();
  }

  /** The connection closed: an answer framed by the close ends here. True when one was cut short. */
  end(): boolean {
    const cur = this.current;
    if (cur === undefined) return this.error === undefined && this.buffer.length > 0;
    if (cur.mode.kind === 'close') {
      this.finish(true);
      return false;
    }
    return true;
  }

  private finish(untilClose: boolean): void {
    const cur = this.current as Partial;
    this.current = undefined;
    this.count += 1;
    this.onResponse(
      {
        status: cur.status,
        version: cur.version,
        headers: cur.headers,
        head: cur.head,
        body: Buffer.concat(cur.chunks),
        untilClose,
      },
      false,
    );
  }

  private parse(): void {
    for (;;) {
      if (this.current === undefined && !this.parseHead()) return;
      const cur = this.current;
      if (cur === undefined) continue;
      const mode = cur.mode;
      if (mode.kind === 'close') {
        if (this.buffer.length > 0) cur.chunks.push(this.buffer);
        this.buffer = Buffer.alloc(0);
        return;
      }
      if (mode.kind === 'length') {
        const take = Math.min(mode.remaining, this.buffer.length);
        if (take > 0) cur.chunks.push(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        mode.remaining -= take;
        if (mode.remaining > 0) return;
        this.finish(false);
        continue;
      }
      if (!this.parseChunked(cur, mode)) return;
    }
  }

  /** False when more bytes are needed. */
  private parseHead(): boolean {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.buffer.length > MAX_HEAD_BYTES) this.error = 'answer head over 256 KB';
      return false;
    }
    const head = this.buffer.toString('latin1', 0, end);
    this.buffer = this.buffer.subarray(end + 4);
    const [statusLine = '', ...lines] = head.split('\r\n');
    const match = /^(HTTP\/\d\.\d) (\d{3})(?: .*)?$/.exec(statusLine);
    if (!match) {
      this.error = `not an HTTP status line: ${JSON.stringify(statusLine.slice(0, 80))}`;
      return false;
    }
    const status = Number(match[2]);
    const parsed: Header[] = lines.map((line) => {
      const colon = line.indexOf(':');
      return colon < 0
        ? [line.trim().toLowerCase(), '']
        : [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    });
    const base = { status, version: match[1] as string, headers: parsed, head, chunks: [] };
    if (status >= 100 && status < 200 && status !== 101) {
      this.onResponse({ ...base, body: Buffer.alloc(0), untilClose: false }, true);
      return true;
    }
    const method = this.methodOf(this.count);
    const te = parsed.find(([n]) => n === 'transfer-encoding')?.[1];
    const cl = parsed.find(([n]) => n === 'content-length')?.[1];
    let mode: BodyMode;
    if (method === 'HEAD' || status === 204 || status === 304)
      mode = { kind: 'length', remaining: 0 };
    else if (te !== undefined && /chunked\s*$/i.test(te)) {
      mode = { kind: 'chunked', step: 'size', remaining: 0 };
    } else if (cl !== undefined && /^\d+$/.test(cl)) {
      mode = { kind: 'length', remaining: Number(cl) };
    } else mode = { kind: 'close' };
    this.current = { ...base, mode };
    this.onHead({ ...base, body: Buffer.alloc(0), untilClose: false });
    return true;
  }

  /** False when more bytes are needed. */
  private parseChunked(cur: Partial, mode: Extract<BodyMode, { kind: 'chunked' }>): boolean {
    for (;;) {
      if (mode.step === 'size') {
        const eol = this.buffer.indexOf('\r\n');
        if (eol < 0) return false;
        const line = this.buffer.toString('latin1', 0, eol).split(';')[0]?.trim() ?? '';
        this.buffer = this.buffer.subarray(eol + 2);
        if (!/^[0-9a-fA-F]{1,8}$/.test(line)) {
          this.error = `bad chunk size ${JSON.stringify(line.slice(0, 20))}`;
          return false;
        }
        const size = parseInt(line, 16);
        if (size === 0) mode.step = 'trailer';
        else {
          mode.step = 'data';
          mode.remaining = size;
        }
      } else if (mode.step === 'data') {
        const take = Math.min(mode.remaining, this.buffer.length);
        if (take > 0) cur.chunks.push(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        mode.remaining -= take;
        if (mode.remaining > 0) return false;
        // The CRLF after the data; with remaining 0 the next feed lands here again.
        if (this.buffer.length < 2) return false;
        this.buffer = this.buffer.subarray(2);
        mode.step = 'size';
      } else {
        const eol = this.buffer.indexOf('\r\n');
        if (eol < 0) return false;
        this.buffer = this.buffer.subarray(eol + 2);
        // An empty line ends the trailers.
        if (eol === 0) {
          this.finish(false);
          return true;
        }
      }
    }
  }
}

export type Wait = 'ok' | 'closed' | 'timeout';

/**
 * One TCP connection to a server: requests are written as bytes, answers framed and kept in
 * order. Answers beyond the requests written are kept too (`extra`), as a desync shows itself.
 * A kept-alive connection that serves many requests calls `release()` after each answer, so
 * what it holds does not grow; indexes (`sent`, `until`, `response(i)`) count from its start.
 */
export class Connection {
  /** Final answers not yet released, in order (the first is answer number `released`). */
  readonly responses: RawResponse[] = [];
  /** 1xx answers (100 Continue). */
  readonly interim: RawResponse[] = [];
  /** Answers that arrived with no request of ours left to answer. */
  readonly extra: RawResponse[] = [];
  /** Heads of final answers, as soon as they are in (bodies may still be on their way). */
  readonly heads: RawResponse[] = [];
  /** Methods of the requests whose answers are not released yet. */
  private readonly methods: string[] = [];
  /** Answers (and their requests) released so far. */
  private released = 0;
  private readonly parser: ResponseParser;
  private readonly waiters = new Set<() => void>();
  closed = false;
  /** The connection ended in the middle of an answer. */
  truncated = false;
  /** A socket error (ECONNRESET, EPIPE…) seen, if any. */
  socketError: string | undefined;
  readonly openedAt = Date.now();
  closedAt: number | undefined;

  private constructor(readonly socket: net.Socket) {
    this.parser = new ResponseParser(
      (i) => this.methods[i - this.released],
      (res, interim) => {
        if (interim) this.interim.push(res);
        else if (this.responses.length < this.methods.length) this.responses.push(res);
        else this.extra.push(res);
        this.wake();
      },
      (head) => {
        this.heads.push(head);
        this.wake();
      },
    );
    socket.on('data', (chunk: Buffer) => this.parser.feed(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.socketError = err.code ?? err.message;
    });
    socket.on('close', () => {
      this.truncated = this.parser.end();
      this.closed = true;
      this.closedAt = Date.now();
      this.wake();
    });
  }

  /** Connects to 127.0.0.1:`port` (or rejects within `timeoutMs`). */
  static open(port: number, timeoutMs = 5000): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new Connection(socket));
      });
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
    });
  }

  /** Stream garbage the parser gave up on, if any. */
  get parseError(): string | undefined {
    return this.parser.error;
  }

  /** Requests written so far (their methods frame the answers). */
  get sent(): number {
    return this.released + this.methods.length;
  }

  /** Final answers received so far. */
  get answered(): number {
    return this.released + this.responses.length;
  }

  /** Answer number `i` (from 0), unless released. */
  response(i: number): RawResponse | undefined {
    return this.responses[i - this.released];
  }

  /** The head of answer number `i`, unless released. */
  head(i: number): RawResponse | undefined {
    return this.heads[i - this.released];
  }

  /** Heads of final answers received so far. */
  get headsSeen(): number {
    return this.released + this.heads.length;
  }

  /** Forgets the answers received so far and their requests: a long-lived connection stays small. */
  release(): void {
    const n = this.responses.length;
    this.responses.splice(0, n);
    this.methods.splice(0, n);
    this.heads.splice(0, Math.min(n, this.heads.length));
    this.interim.length = 0;
    this.released += n;
  }

  /** Writes bytes holding the requests whose methods are given (none for a request's tail). */
  write(bytes: Buffer, methods: readonly string[] = []): void {
    this.methods.push(...methods);
    if (!this.closed && !this.socket.destroyed) this.socket.write(bytes);
  }

  /** Half-closes: FIN after what was written; answers can still arrive. */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves when `count` answers in all have arrived, the connection closed, or `timeoutMs` passed. */
  until(count: number, timeoutMs: number): Promise<Wait> {
    return this.waitFor(() => this.answered >= count, timeoutMs);
  }

  /** As `until`, for the heads of the answers. */
  untilHead(count: number, timeoutMs: number): Promise<Wait> {
    return this.waitFor(() => this.headsSeen >= count, timeoutMs);
  }

  /** Resolves when the server closed the connection ('closed'), or with 'timeout'. */
  untilClosed(timeoutMs: number): Promise<Wait> {
    return this.waitFor(() => false, timeoutMs);
  }

  private waitFor(done: () => boolean, timeoutMs: number): Promise<Wait> {
    if (done()) return Promise.resolve('ok');
    if (this.closed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const check = (): void => {
        if (done()) finish('ok');
        else if (this.closed) finish('closed');
      };
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      const finish = (result: Wait): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(result);
      };
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Whether a further request may be sent on this connection. */
  get reusable(): boolean {
    if (this.closed || this.socket.destroyed || this.parseError !== undefined) return false;
    const last = this.responses[this.responses.length - 1];
    return last === undefined || !/close/i.test(header(last, 'connection') ?? '');
  }
}

/** Every byte of a response as text, for leak and stack checks (head, then body as latin1). */
export function responseText(res: RawResponse): string {
  return `${res.head}\r\n\r\n${res.body.toString('latin1')}`;
}

/** A short printable form of a request or answer: JSON-escaped, cut at `max` chars. */
export function printable(bytes: Buffer | string, max = 800): string {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  const cut = text.length > max ? `${text.slice(0, max)}… (${text.length} bytes)` : text;
  return JSON.stringify(cut);
}
