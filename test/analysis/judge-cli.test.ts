import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { seededRandom } from '../../src/analysis/stats/describe.js';
import { runCli } from '../helpers/cli.js';
import { dataset } from '../fixtures/kayenta/oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-judge-'));

/** A request log: `seconds` of traffic, canary and stable, with the given 5xx probabilities. */
function requestLog(name: string, seconds: number, canaryErrors: number, stableErrors: number): string {
  const random = seededRandom(11);
  const lines = ['time,version,status,latency_ms'];
  for (let t = 0; t < seconds; t++) {
    for (let i = 0; i < 200; i++) {
      const canary = i % 10 === 0;
      const failed = random() < (canary ? canaryErrors : stableErrors);
      lines.push(
        `${t + i / 200},${canary ? 'canary' : 'stable'},${failed ? 503 : i % 37 === 0 ? 404 : 200},${(20 + 30 * random()).toFixed(1)}`,
      );
    }
  }
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('kanari judge --kayenta', () => {
  it('judges the example Kayenta config unchanged and fails the slower canary (exit 1)', () => {
    const r = runCli([
      'judge',
      '--kayenta',
      'examples/judge/canary-config.json',
      '--data',
      'examples/judge/metric-pairs.json',
    ]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^Kayenta score 60 — Fail \(pass ≥ 95, marginal ≥ 75\)/);
    assert.match(r.stdout, /latency-p99 +High/);
    assert.match(r.stdout, /error-rate +Pass/);
  });

  it("reads a long CSV, and passes data Kayenta's own suite calls Pass (C01), with --json", () => {
    const csv = join(dir, 'pairs.csv');
    const rows = [
      'metric,version,value',
      ...dataset('D01').map((v: number) => `m,canary,${v}`),
      ...dataset('D02').map((v: number) => `m,baseline,${v}`),
    ];
    writeFileSync(csv, rows.join('\n'));
    const config = join(dir, 'one-metric.json');
    writeFileSync(config, JSON.stringify({ metrics: [{ name: 'm', groups: ['g'] }] }));
    const r = runCli(['judge', '--kayenta', config, '--data', csv, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.score, 100);
    assert.equal(report.metrics[0].classification, 'Pass');
    assert.equal(report.metrics[0].experiment.count, 30);
  });

  it('bad input names the file and line, and exits 2', () => {
    const csv = join(dir, 'bad.csv');
    writeFileSync(csv, 'metric,version,value\nm,canary,1\nm,blue,2\n');
    const r = runCli(['judge', '--kayenta', 'examples/judge/canary-config.json', '--data', csv]);
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /bad\.csv:3:1 .*version must be one of control, baseline, stable, canary, experiment \(got "blue"\)/,
    );
    const config = join(dir, 'remote-judge.json');
    writeFileSync(config, JSON.stringify({ judge: { name: 'RemoteJudge-v1.0' }, metrics: [{ name: 'm' }] }));
    const remote = runCli(['judge', '--kayenta', config, '--data', 'examples/judge/metric-pairs.json']);
    assert.equal(remote.status, 2);
    assert.match(remote.stderr, /remote-judge\.json:1:\d+ judge\.name: kanari implements NetflixACAJudge-v1\.0 only/);
  });
});

describe('kanari judge --sequential', () => {
  it('stops at the second the evidence is enough, and says why (exit 1)', () => {
    const r = runCli(['judge', '--sequential', '--data', requestLog('bad.csv', 120, 0.05, 0.001)]);
    assert.equal(r.status, 1, r.stderr);
    const [first] = r.stdout.split('\n');
    assert.match(first!, /^Failed at second (\d+) of 120: errors: the canary is worse/);
    assert.ok(Number(/second (\d+)/.exec(first!)![1]) < 60);
  });
  it('a good canary over a whole log is Successful (exit 0); 404s are not errors', () => {
    const r = runCli(['judge', '--sequential', '--data', requestLog('good.csv', 60, 0.001, 0.001), '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.verdict, 'Successful');
    assert.equal(report.stoppedAtSecond, null);
    assert.equal(report.metrics[0].parts[0].canary.requests, 1200);
    assert.ok(report.metrics[0].parts[0].canary.events < 10);
    assert.equal(report.unit, 'requests');
  });

  it('refuses a template that asks for users, which a request log does not have (exit 2)', () => {
    const template = join(dir, 'users.yaml');
    writeFileSync(
      template,
      'apiVersion: kanari.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata: { name: u }\nspec:\n  sequential: { unit: users }\n',
    );
    const r = runCli(['judge', '--sequential', '-f', template, '--data', requestLog('u.csv', 2, 0, 0)]);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /asks for unit: users, but a request log has no users/);
  });
});
