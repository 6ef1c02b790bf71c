/** Reasons vary in a field name or a quoted excerpt; the group they belong to does not. */
export const reasonGroup = (reason: string) => reason.replace(/"[^"]*"/g, '…').replace(/ the \S+ value/, ' a value');

/** Counts a fuzz run's outcomes by kind, keeping a few examples of each to replay. */
export class FuzzReport {
  private readonly failures = new Map<string, { cases: number; examples: string[] }>();
  private readonly notes = new Map<string, { cases: number; examples: string[] }>();
  readonly counts: Record<string, number> = {};

  constructor(private readonly title: string) {}

  count(what: string): void {
    this.counts[what] = (this.counts[what] ?? 0) + 1;
  }

  fail(kind: string, example: string): void {
    add(this.failures, kind, example);
  }

  /** Something allowed but worth knowing (the router stricter than the oracle). */
  note(kind: string, example: string): void {
    add(this.notes, kind, example);
  }

  get failed(): number {
    return this.failures.size;
  }

  summary(): string {
    const lines = [
      `${this.title}: ${Object.entries(this.counts)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')}`,
    ];
    lines.push(
      this.failures.size === 0 ? 'no oracle failures' : `oracle failures, by kind (${this.failures.size} kinds):`,
    );
    for (const [kind, { cases, examples }] of sorted(this.failures))
      lines.push(`  ${kind}: ${cases} case(s)`, ...examples.map((e) => `      e.g. ${e}`));
    if (this.notes.size > 0) lines.push('allowed, router stricter than the oracle:');
    for (const [kind, { cases, examples }] of sorted(this.notes))
      lines.push(`  ${kind}: ${cases} case(s)`, `      e.g. ${examples[0]}`);
    return lines.join('\n');
  }
}

function add(map: Map<string, { cases: number; examples: string[] }>, kind: string, example: string): void {
  const entry = map.get(kind) ?? { cases: 0, examples: [] };
  entry.cases++;
  if (entry.examples.length < 2) entry.examples.push(example);
  map.set(kind, entry);
}

const sorted = (map: Map<string, { cases: number; examples: string[] }>) =>
  [...map].sort((a, b) => b[1].cases - a[1].cases);

/** Runs `work` over `items`, `width` at a time, starting no new item after `deadline` (ms since epoch). */
export async function inParallel<T>(
  items: readonly T[],
  width: number,
  deadline: number,
  work: (item: T) => Promise<void>,
): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && Date.now() < deadline) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: width }, worker));
  return next;
}

/**
 * Catches exceptions nothing else caught (the router's, since it runs in this process) so
 * a crash becomes a fuzz failure instead of failing the whole file from an ended hook.
 */
export function captureCrashes(): { take(): string[]; stop(): void } {
  let crashes: string[] = [];
  process.setUncaughtExceptionCaptureCallback((err) => {
    const e = err as Error;
    // The first frame in kanari's own code says where to look.
    const at = /src\/[\w/.-]+:\d+/.exec(e.stack ?? '')?.[0];
    crashes.push(`${e.name}: ${e.message}${at ? ` (at ${at})` : ''}`);
  });
  return {
    take() {
      const taken = crashes;
      crashes = [];
      return taken;
    },
    stop: () => process.setUncaughtExceptionCaptureCallback(null),
  };
}
