import { printable, type RawResponse } from './raw-http';

/** Failures of a run, grouped by what failed and where, each with its first examples. */

export interface Example {
  /** Request number of the run (replay it with the same --seed), when it was a random one. */
  readonly n?: number;
  readonly label: string;
  readonly detail: string;
  readonly request?: string;
  readonly answer?: string;
}

interface Group {
  count: number;
  readonly examples: Example[];
}

const EXAMPLES_PER_GROUP = 1;

export class FailureBook {
  private readonly groups = new Map<string, Group>();

  get total(): number {
    let sum = 0;
    for (const g of this.groups.values()) sum += g.count;
    return sum;
  }

  get kinds(): number {
    return this.groups.size;
  }

  /** `kind` groups the failure (`500`, `token leak`, `desync`); `where` narrows it (`DELETE /session`). */
  add(kind: string, where: string, example: Example): void {
    const key = `${kind} · ${where}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { count: 0, examples: [] };
      this.groups.set(key, group);
    }
    group.count += 1;
    if (group.examples.length < EXAMPLES_PER_GROUP) group.examples.push(example);
  }

  /**
   * Printable lines: one per group, biggest first; then the first example of each of the first
   * `detailed` groups in full (request and answer).
   */
  lines(detailed = 20): string[] {
    const sorted = [...this.groups].sort((a, b) => b[1].count - a[1].count);
    const out = sorted.map(([key, group]) => {
      const ex = group.examples[0];
      const first = ex?.n !== undefined ? ` (first: request #${ex.n})` : '';
      return `  FAIL ${key}: ${group.count}×${first}`;
    });
    for (const [key, group] of sorted.slice(0, detailed)) {
      const ex = group.examples[0];
      if (ex === undefined) continue;
      out.push(`  -- ${key}: ${ex.n !== undefined ? `request #${ex.n} ` : ''}[${ex.label}]`);
      out.push(`     ${ex.detail}`);
      if (ex.request !== undefined) out.push(`     request: ${ex.request}`);
      if (ex.answer !== undefined) out.push(`     answer:  ${ex.answer}`);
    }
    return out;
  }
}

/** helmet's headers, the same on every answer: left out of printed answers. */
const BORING =
  /^(content-security-policy|cross-origin-[a-z-]+|origin-agent-cluster|referrer-policy|strict-transport-security|x-content-type-options|x-dns-prefetch-control|x-download-options|x-frame-options|x-permitted-cross-domain-policies|x-xss-protection|date|keep-alive):/i;

/** An answer as printed in a failure: status line, headers (not helmet's) and the body's start. */
export function printAnswer(res: RawResponse | undefined): string | undefined {
  if (res === undefined) return undefined;
  const head = res.head
    .split('\r\n')
    .filter((line) => !BORING.test(line))
    .join('\r\n');
  return printable(`${head}\r\n\r\n${res.body.toString('latin1')}`, 800);
}

/** `{ answer }` for an example, or nothing when there was no answer. */
export function answerPart(res: RawResponse | undefined): { answer?: string } {
  const answer = printAnswer(res);
  return answer === undefined ? {} : { answer };
}

/** `200 5123 · 204 80 · …`, statuses in order, then the named outcomes. */
export function histogramLine(counts: ReadonlyMap<string, number>): string {
  return [...counts]
    .sort(([a], [b]) => {
      const na = Number(a);
      const nb = Number(b);
      if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
      if (Number.isFinite(na)) return -1;
      if (Number.isFinite(nb)) return 1;
      return a.localeCompare(b);
    })
    .map(([k, v]) => `${k} ${v}`)
    .join(' · ');
}

export function bump(counts: Map<string, number>, key: string, by = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
