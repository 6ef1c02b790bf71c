// The hardening suites again, each against service 2 of 3 in one shared router process
// (KANARI_TEST_SHARED_ROUTER=1, test/helpers/shared-router.ts): a hostile request, upstream
// or table aimed at one service must do to it what it does to a router of its own, and
// leave the other two untouched — which closing each router checks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

const SUITES = [
  'test/router/admin-input.test.ts',
  'test/router/fuzz-requests.test.ts',
  'test/router/fuzz-upstream.test.ts',
  'test/router/request-framing.test.ts',
  'test/router/slow-clients.test.ts',
  'test/router/backpressure.test.ts',
  'test/router/upstream-responses.test.ts',
];

describe('the hardening suites against a shared router', () => {
  for (const suite of SUITES)
    it(suite, { timeout: 300_000 }, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', suite], {
        // Without the runner's own context, the child reports as a run of its own.
        env: {
          // The fuzzers here take another seed and fewer cases than their own runs: the same
          // code answers, so these cases add variety rather than repeat the 4,000 already run.
          KANARI_FUZZ_SEED: '2',
          KANARI_FUZZ_CASES: '1000',
          KANARI_FUZZ_UPSTREAM_CASES: '300',
          ...withoutTestContext(process.env),
          KANARI_TEST_SHARED_ROUTER: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((done) => child.once('exit', done));
      const failing = out.split('\n').filter((l) => /^\s*not ok /.test(l) || /^\s+(error|message):/.test(l));
      assert.equal(code, 0, `${suite} failed against a shared router:\n${failing.join('\n')}\n${out.slice(-3000)}`);
      assert.match(out, /^# pass [1-9]/m, `${suite} ran no test`);
    });
});

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...rest } = env;
  return rest;
}
