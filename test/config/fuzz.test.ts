/**
 * The config fuzz test (issue 12): hundreds of mutated versions of every file under
 * examples/, each run the way a person runs it — `kanari lint`, or `kanari judge` for
 * judge data — through the CLI's own entry in a worker process, and a sample through the
 * real CLI. Each must load, or be refused with `file:line:col path: reason` lines and
 * exit 2: never exit 70, never a stack trace, never a hang, never a worker that dies.
 *
 * Seeded: KANARI_FUZZ_SEED=N reproduces a run (=random picks one); the seed is printed.
 * KANARI_FUZZ_PER_FILE sets how many mutations each example gets. A failing run keeps
 * its files and names them.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../../src/analysis/stats/describe.js';
import { runCliAsync } from '../helpers/cli.js';
import { mutate } from './fuzz/mutations.js';
import type { Job, Outcome } from './fuzz/runner.js';

const SEED =
  process.env.KANARI_FUZZ_SEED === 'random'
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(process.env.KANARI_FUZZ_SEED ?? 20_261_201);
const PER_FILE = Number(process.env.KANARI_FUZZ_PER_FILE ?? 200);
/** Worker processes; the machine has two cores. */
const WORKERS = 2;
/** Far above the slowest clean refusal (~0.3 s on a busy machine): past it, a job hangs. */
const HANG_MS = 15_000;
const RUNNER = fileURLToPath(new URL('./fuzz/runner.ts', import.meta.url));
const LOCATED = /^\S[^\n]*:\d+:\d+ \S[^\n]*$/;

type Verdict = 'loaded' | 'rejected cleanly' | 'rejected uncleanly' | 'wrongly accepted' | 'crash' | 'hang';
interface Case extends Job {
  kinds: string[];
  /** What `main` is given, as `kanari` would be. */
  judge: boolean;
  path: string;
}

/** Every example, and the mutations of it as jobs: examples/ is mirrored so relative paths resolve. */
function cases(dir: string): Case[] {
  cpSync('examples', join(dir, 'examples'), { recursive: true });
  const files = (readdirSync('examples', { recursive: true }) as string[])
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort();
  const out: Case[] = [];
  for (const [n, file] of files.entries()) {
    const rng = seededRandom(SEED * 31 + n);
    const source = readFileSync(join('examples', file), 'utf8');
    for (let i = 0; i < PER_FILE; i++) {
      const { kinds, bytes } = mutate(source, rng);
      const path = join(
        dir,
        'examples',
        dirname(file),
        `${basename(file).replace(/\.\w+$/, '')}.fuzz-${i}${file.slice(file.lastIndexOf('.'))}`,
      );
      writeFileSync(path, bytes);
      const id = out.length;
      if (file === 'judge/metric-pairs.json') {
        out.push({
          id,
          kinds,
          path,
          judge: true,
          argv: ['judge', '--kayenta', join(dir, 'examples/judge/canary-config.json'), '--data', path, '--json'],
        });
      } else if (file === 'judge/canary-config.json') {
        // A canary config is read through the AnalysisTemplate that names it.
        const template = join(dir, 'examples/analysis', `kayenta.for-${i}.yaml`);
        writeFileSync(
          template,
          readFileSync('examples/analysis/kayenta.yaml', 'utf8').replace(
            '../judge/canary-config.json',
            `../judge/${basename(path)}`,
          ),
        );
        out.push({ id, kinds, path, judge: false, argv: ['lint', template], lint: template });
      } else {
        out.push({ id, kinds, path, judge: false, argv: ['lint', path], lint: path });
      }
    }
  }
  return out;
}

function verdictOf(c: Case, o: Outcome): Verdict {
  if (c.judge ? o.code === 0 || o.code === 1 : o.code === 0) return o.wrong.length > 0 ? 'wrongly accepted' : 'loaded';
  if (o.code !== 2) return 'crash';
  const lines = o.stderr.split('\n');
  return lines.length > 0 && lines.every((l) => LOCATED.test(l)) ? 'rejected cleanly' : 'rejected uncleanly';
}

type Result = { verdict: Verdict; outcome?: Outcome; note?: string };

/** Runs the jobs in worker processes, one job at a time each, replacing a worker that dies or hangs. */
async function runAll(jobs: Case[]): Promise<Map<number, Result>> {
  const results = new Map<number, Result>();
  const queue = [...jobs];
  const start = () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const child = fork(RUNNER, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      child.stderr!.resume();
      child.once('message', () => resolve(child));
      child.once('exit', (code) => reject(new Error(`the fuzz worker exited with ${code} before it was ready`)));
    });
  const runOne = (w: ChildProcess, job: Case) =>
    new Promise<Result>((resolve) => {
      const timer = setTimeout(() => {
        w.removeAllListeners();
        w.kill('SIGKILL');
        resolve({ verdict: 'hang', note: `no answer within ${HANG_MS / 1000} s` });
      }, HANG_MS);
      w.once('message', (o: Outcome) => {
        clearTimeout(timer);
        w.removeAllListeners('exit');
        resolve({ verdict: verdictOf(job, o), outcome: o });
      });
      w.once('exit', (code, signal) => {
        clearTimeout(timer);
        w.removeAllListeners('message');
        resolve({ verdict: 'crash', note: `the worker died (${signal ?? `exit ${code}`})` });
      });
      w.send({ id: job.id, argv: job.argv, ...(job.lint ? { lint: job.lint } : {}) } satisfies Job);
    });
  const lane = async () => {
    let worker: ChildProcess | undefined;
    for (let job = queue.shift(); job; job = queue.shift()) {
      worker ??= await start();
      const result = await runOne(worker, job);
      if (!result.outcome) worker = undefined;
      results.set(job.id, result);
    }
    worker?.kill();
  };
  await Promise.all(Array.from({ length: WORKERS }, lane));
  return results;
}

function summary(jobs: Case[], results: Map<number, { verdict: Verdict }>): string {
  const columns: Verdict[] = ['loaded', 'rejected cleanly', 'rejected uncleanly', 'wrongly accepted', 'crash', 'hang'];
  const rows = new Map<string, number[]>();
  const add = (kind: string, v: Verdict) => {
    const row = rows.get(kind) ?? [0, ...columns.map(() => 0)];
    row[0]!++;
    row[1 + columns.indexOf(v)]!++;
    rows.set(kind, row);
  };
  for (const job of jobs) {
    const v = results.get(job.id)!.verdict;
    add('all mutations', v);
    for (const kind of new Set(job.kinds)) add(kind, v);
  }
  const head = ['kind', 'tried', ...columns];
  const table = [
    head,
    ...[...rows]
      .sort((a, b) => (a[0] === 'all mutations' ? -1 : b[0] === 'all mutations' ? 1 : a[0].localeCompare(b[0])))
      .map(([k, r]) => [k, ...r.map(String)]),
  ];
  const widths = head.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return table
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}

describe('config fuzz', () => {
  it(`every mutation of every example loads or is refused cleanly (seed ${SEED}, ${PER_FILE} per file)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-fuzz-'));
    const jobs = cases(dir);
    const started = Date.now();
    const results = await runAll(jobs);
    console.log(
      `config fuzz: seed ${SEED} (KANARI_FUZZ_SEED=${SEED} reproduces it), ${jobs.length} mutations in ${((Date.now() - started) / 1000).toFixed(1)} s\n${summary(jobs, results)}`,
    );

    // A sample through the real CLI: the same verdicts, from a real process's exit code.
    const sample = jobs.filter((j) => !j.judge && j.id % 97 === 0);
    const cli = await runCliAsync(['lint', '--json', ...sample.map((j) => j.lint!)]);
    assert.ok(cli.status === 0 || cli.status === 2, `kanari lint exited ${cli.status}: ${cli.stderr.slice(0, 2000)}`);
    assert.doesNotMatch(cli.stderr, /^\s+at /m);
    const byFile = (
      JSON.parse(cli.stdout) as { files: { ok: boolean; issues?: { line: number; col: number; message: string }[] }[] }
    ).files;
    sample.forEach((j, n) =>
      assert.equal(
        byFile[n]!.ok,
        results.get(j.id)!.verdict === 'loaded',
        `${j.path}: the CLI and the in-process run disagree`,
      ),
    );
    const judged = jobs.find((j) => j.judge && results.get(j.id)!.verdict === 'rejected cleanly');
    if (judged) {
      const r = await runCliAsync(judged.argv);
      assert.equal(r.status, 2, r.stderr);
      for (const line of r.stderr.trimEnd().split('\n')) assert.match(line, LOCATED);
    }

    const bad = jobs.filter((j) => !['loaded', 'rejected cleanly'].includes(results.get(j.id)!.verdict));
    const report = bad.slice(0, 10).map((j) => {
      const r = results.get(j.id)!;
      return `${r.verdict}: ${j.kinds.join(' + ')}: kanari ${j.argv.join(' ')}\n  ${r.note ?? ''}${r.outcome ? `exit ${r.outcome.code}: ${[...r.outcome.wrong, r.outcome.stderr].join('\n  ').slice(0, 600)}` : ''}`;
    });
    assert.equal(
      bad.length,
      0,
      `seed ${SEED}: ${bad.length} of ${jobs.length} mutations failed (files kept in ${dir}):\n${report.join('\n')}`,
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
