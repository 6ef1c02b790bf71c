import { describeStep } from '../rollout/strategies/describe.js';
import { planOf } from '../rollout/strategies/index.js';
import { DemoStopped, runDemo, type DemoResult, type DemoSecond, type Scenario } from '../demo/rollout.js';
import { demoDocument } from '../demo/rollout.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'a live canary rollout on this machine, judged every second and promoted or rolled back';

const HELP = `Usage: kanari demo [--good | --bad | --slow] [--hold-seconds N] [--users N] [--keep | --no-keep]

Starts v1 and v2 of a small demo service on 127.0.0.1, kanari's router in front of them and
users with their own cookies, then rolls v2 out 5% → 25% → 50% → 100% with the sequential
judge checking every second. It prints the dashboard's address and a sign-in link (good once,
within 60 s) to watch it there; Ctrl-C stops everything at any time.

  --good           v2 is as good as v1: it is promoted (the default; about two minutes)
  --bad            v2 answers 5% of requests with errors: it is rolled back within seconds
  --slow           v2 is three times slower: it is rolled back within seconds
  --hold-seconds   how long each weight is held (default 30)
  --users          distinct users sending requests (default 2000)
  --keep           after the rollout, keep the dashboard and the version left running until
                   Ctrl-C (the default when stdout is a terminal)
  --no-keep        end with the rollout (the default otherwise)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('demo', argv, {
    good: { type: 'boolean' },
    bad: { type: 'boolean' },
    slow: { type: 'boolean' },
    'hold-seconds': { type: 'string', default: '30' },
    users: { type: 'string', default: '2000' },
    keep: { type: 'boolean' },
    'no-keep': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const chosen = (['good', 'bad', 'slow'] as const).filter((s) => values[s]);
  if (chosen.length > 1)
    throw new UsageError(
      `demo: choose one of --good, --bad, --slow (got ${chosen.map((c) => `--${c}`).join(' and ')})`,
    );
  if (values.keep && values['no-keep']) throw new UsageError('demo: choose one of --keep and --no-keep');
  const keep = values.keep ?? (values['no-keep'] ? false : process.stdout.isTTY === true);
  const scenario: Scenario = chosen[0] ?? 'good';
  const holdSeconds = positive('hold-seconds', values['hold-seconds']);
  const users = positive('users', values.users);
  const steps = planOf(demoDocument({ scenario, holdSeconds }).spec).steps;

  console.log(
    `kanari demo (--${scenario}): ${scenario === 'good' ? 'v2 is as good as v1' : scenario === 'bad' ? 'v2 fails 5% of requests (v1: 0.2%)' : 'v2 answers three times slower than v1'}`,
  );
  console.log(`plan: ${steps.map((s, i) => `${i + 1}. ${describeStep(s)}`).join('  ')}  then promote\n`);
  // Ctrl-C (or a kill) stops the router and both versions with the demo instead of leaving them behind.
  const interrupted = new AbortController();
  const stop = () => interrupted.abort();
  // Kept until the end: a second Ctrl-C while stopping must not kill the demo before it stopped its processes.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let result: DemoResult;
  try {
    result = await runDemo({
      scenario,
      holdSeconds,
      users,
      onSecond: printSecond,
      onMessage: (line) => console.log(line),
      signal: interrupted.signal,
      ...(keep ? { keep: keepUp } : {}),
    });
  } catch (err) {
    if (!(err instanceof DemoStopped)) throw err;
    console.log(STOPPED);
    return INTERRUPTED;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (keep) console.log(STOPPED);
  else printResult(result);
  const expected = scenario === 'good' ? 'Promoted' : 'RolledBack';
  return result.status.result.outcome === expected && result.failures === 0 ? EXIT.ok : EXIT.failed;
}

const STOPPED = '\nstopped: the router and every version it ran are stopped, and the demo state removed.';
/** The shell's status for a command ended by SIGINT. */
const INTERRUPTED = 130;

function printResult(result: DemoResult): void {
  const outcome = result.status.result;
  console.log('');
  if (outcome.outcome === 'Promoted')
    console.log(`✔ v2 promoted after ${result.seconds} s: every step passed and v2 now serves everyone.`);
  else
    console.log(
      `✘ v2 rolled back ${result.seconds} s after the deploy: ${outcome.reason}${result.evidence ? `\n  evidence: ${result.evidence}` : ''}`,
    );
  console.log(
    `${result.requests} requests; ${result.failures} failed between the users and the app (the app's own 500s are not counted).`,
  );
}

/** The finished rollout stays on the dashboard until Ctrl-C (or the API's shutdown). */
async function keepUp(result: DemoResult, signIn: () => string, stopped: AbortSignal): Promise<void> {
  printResult(result);
  console.log(
    `\nThe dashboard shows the finished rollout until Ctrl-C (the load has stopped; ${result.status.stable} still runs behind the router):\n${signIn()}`,
  );
  if (!stopped.aborted) await new Promise((resolve) => stopped.addEventListener('abort', resolve, { once: true }));
}

let lastMessage = '';

function printSecond(s: DemoSecond): void {
  // Once stable has been switched to v2, v2 has everyone though the canary weight is back to 0.
  const w =
    s.status.result?.outcome === 'Promoted' || (s.status.phase === 'FullDeploy' && s.status.canary === undefined)
      ? 100
      : s.status.weights.canary;
  const bar = '█'.repeat(Math.round(w / 5)).padEnd(20, '░');
  const v1 = s.load.byVersion.get('v1') ?? 0;
  const v2 = s.load.byVersion.get('v2') ?? 0;
  const score = s.score === undefined ? '' : `  evidence budget ${String(Math.round(s.score)).padStart(3)}%`;
  if (s.status.message !== lastMessage) console.log(`  → ${s.status.message}`);
  lastMessage = s.status.message;
  console.log(
    `[${String(s.elapsed).padStart(3)}s] ${s.status.phase.padEnd(15)} ${bar} ${String(w).padStart(3)}%  ${String(s.load.requests).padStart(5)} req/s  v1 ${String(v1).padStart(5)}  v2 ${String(v2).padStart(4)}  app 500s ${String(s.load.appErrors).padStart(3)}${score}`,
  );
}

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`demo: --${name} must be a positive number (got ${JSON.stringify(text)})`);
  return n;
}
