/** `kanari judge` on data that does not fit its canary config (found by the config fuzz test). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-judge-'));

describe('kanari judge: data naming a metric the config lacks', () => {
  it('is refused at the metric, exit 2, in JSON and CSV alike', () => {
    const json = join(dir, 'pairs.json');
    writeFileSync(
      json,
      readFileSync('examples/judge/metric-pairs.json', 'utf8').replace(
        '"name": "latency-p99"',
        '"name": "latency-p95"',
      ),
    );
    const r = runCli(['judge', '--kayenta', 'examples/judge/canary-config.json', '--data', json]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^${json}:\\d+:\\d+ \\[\\d\\]\\.name: is not a metric of the canary config \\(it has: error-rate, latency-p99\\) \\(got "latency-p95"\\)\\n$`,
      ),
    );
    const csv = join(dir, 'pairs.csv');
    writeFileSync(csv, 'metric,version,value\nerror-rate,control,0.01\nlatency-p95,canary,0.2\n');
    const c = runCli(['judge', '--kayenta', 'examples/judge/canary-config.json', '--data', csv]);
    assert.equal(c.status, 2, c.stderr);
    assert.equal(
      c.stderr,
      `${csv}:3:1 "latency-p95" is not a metric of the canary config (it has: error-rate, latency-p99)\n`,
    );
  });
});
