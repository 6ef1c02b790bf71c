/**
 * The config fuzz test's worker. A child process, so that an abort or a hang is seen and
 * counted rather than taking the test down: it runs each job through the CLI's own entry
 * (`main`, as `kanari lint` and `kanari judge` run), in-process, and checks what a file
 * that loaded holds.
 */
import { main } from '../../../src/cli/main.js';
import { loadFiles } from '../../../src/config/kinds.js';

export interface Job {
  id: number;
  argv: string[];
  /** The kanari file to check when it loads (undefined for judge data). */
  lint?: string;
}

export interface Outcome {
  id: number;
  code: number;
  stderr: string;
  ms: number;
  /** Why what loaded should not have. */
  wrong: string[];
}

/** The longest a Node.js timer waits; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Where loaded documents hold timers (config/schemas: timerDuration). */
const TIMER = /(^|\.)(timeouts\.\w+|health\.(interval|timeout)|analysisInterval|timeout)$/;

/** What a loaded document must hold: values JSON keeps as they are, no timer Node cannot set, no NUL. */
export function wrongIn(value: unknown, path = ''): string[] {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return [`${path}: ${value} does not survive JSON (the store keeps documents as JSON)`];
    return TIMER.test(path) && value > MAX_TIMER_MS ? [`${path}: a timer of ${value} ms fires at once`] : [];
  }
  if (typeof value === 'string') return value.includes('\u0000') ? [`${path}: holds a NUL byte`] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => wrongIn(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => wrongIn(v, path ? `${path}.${k}` : k));
  return [];
}

async function run(job: Job): Promise<Outcome> {
  const stderr: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = () => {};
  console.error = (...args: unknown[]) => stderr.push(args.join(' '));
  const started = performance.now();
  let code: number;
  try {
    code = await main(job.argv);
  } catch (err) {
    code = -1;
    stderr.push(String((err as Error).stack ?? err));
  } finally {
    console.log = log;
    console.error = error;
  }
  const ms = performance.now() - started;
  let wrong: string[] = [];
  if (code === 0 && job.lint) {
    const [result] = loadFiles([job.lint]);
    wrong =
      !result || 'error' in result
        ? ['lint passed what loadFiles refuses']
        : result.documents.flatMap((d) => wrongIn(d.value));
  }
  return { id: job.id, code, stderr: stderr.join('\n'), ms, wrong };
}

process.on('message', (job: Job) => {
  void run(job).then((outcome) => process.send!(outcome));
});
process.send!({ ready: true });
