import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analysisTemplateSpec } from '../../src/config/schemas/analysis.js';
import { AnalysisRun, type RunEnvironment } from '../../src/analysis/run.js';
import { BuiltinProvider, StatsRecorder } from '../../src/analysis/providers/builtin.js';
import { Providers } from '../../src/analysis/providers/index.js';
import { BUILTIN_TEMPLATES } from '../../src/config/templates.js';
import { RouterStats } from '../../src/router/stats.js';
import { seededRandom } from '../../src/analysis/stats/describe.js';
import { freePort } from '../helpers/prometheus.js';

const T0 = 1_700_000_000_000;
const available = { stable: true, canary: true, baseline: false };

/**
 * A router's counters on a virtual clock: each second `perSecond` requests, 5% to the
 * canary, with the given error rates and latencies, recorded the way the controller
 * samples /stats.
 */
class World {
  readonly stats = new RouterStats('svc');
  readonly recorder = new StatsRecorder();
  readonly random = seededRandom(7);
  now = T0;
  canaryErrorRate = 0.001;
  canaryLatency = 0.05;
  readonly env: RunEnvironment;

  constructor(
    readonly perSecond = 1000,
    public share = 0.05,
  ) {
    this.recorder.record({ ...this.stats.snapshot(1, available), time: this.now });
    this.env = {
      service: 'svc',
      providers: new Providers(new BuiltinProvider(this.recorder)),
      recorder: this.recorder,
      expectedShareAt: () => ({ requests: share, keys: share, control: 'stable' as const }),
    };
  }

  /** One second of traffic; the controller samples the router after it unless `record` is false. */
  second(record = true): void {
    for (let i = 0; i < this.perSecond; i++) {
      const canary = this.random() < this.share;
      const version = canary ? 'canary' : 'stable';
      const failed = this.random() < (canary ? this.canaryErrorRate : 0.001);
      this.stats.started(version);
      this.stats.finished(
        version,
        failed ? 503 : 200,
        (canary ? this.canaryLatency : 0.05) * Math.exp(0.5 * gauss(this.random)),
      );
    }
    this.now += 1000;
    if (record) this.recorder.record({ ...this.stats.snapshot(1, available), time: this.now });
  }

  /** Runs `seconds` of traffic, ticking the run after each; stops early once it has a verdict. */
  async run(run: AnalysisRun, seconds: number): Promise<number> {
    for (let s = 1; s <= seconds; s++) {
      this.second();
      await run.tick(this.now);
      if (run.verdict() !== 'Running') return s;
    }
    return seconds;
  }
}

function gauss(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const thresholdTemplate = analysisTemplateSpec.parse({
  threshold: {
    metrics: [
      {
        name: 'success',
        provider: { builtin: { signal: 'successRate' } },
        interval: '10s',
        count: 3,
        successCondition: 'result >= 0.95',
      },
      {
        name: 'p99-vs-stable',
        provider: { builtin: { signal: 'latency', quantile: 0.99 } },
        interval: '10s',
        count: 3,
        successCondition: 'result <= control * 1.5',
      },
    ],
  },
});

describe('analysis runs', () => {
  it('threshold: measures every interval over the window since the last, and succeeds after count', async () => {
    const world = new World();
    const run = AnalysisRun.start('checks', thresholdTemplate, 'step', world.now, world.env);
    const took = await world.run(run, 60);
    assert.equal(run.verdict(), 'Successful');
    assert.equal(took, 30);
    const success = run.measurements.filter((m) => m.metric === 'success');
    assert.deepEqual(
      success.map((m) => [m.window.start - T0, m.window.end - T0]),
      [
        [0, 10_000],
        [10_000, 20_000],
        [20_000, 30_000],
      ],
    );
    assert.ok(success.every((m) => m.outcome === 'value' && m.phase === 'Successful'));
    const report = run.report();
    assert.equal(report.score, 100);
    assert.equal(report.reason, 'every metric met its conditions');
    assert.equal(report.endedAt, T0 + 30_000);
  });

  it('threshold: fails on the conditions, naming the metric and its last value', async () => {
    const world = new World();
    world.canaryErrorRate = 0.2;
    const run = AnalysisRun.start('checks', thresholdTemplate, 'background', world.now, world.env);
    await world.run(run, 60);
    assert.equal(run.verdict(), 'Failed');
    const report = run.report();
    assert.match(report.reason, /^success is Failed: 1 measured, 1 failed/);
    assert.equal(report.metrics.find((m) => m.name === 'success')!.verdict, 'Failed');
    // The last value as a person reads it: a few digits, not the float's seventeen.
    assert.match(report.reason, /; last 0\.\d{1,4} \(Failed\)/);
    assert.equal(report.score, 50, 'one of the two measurements judged passed');
  });

  it('threshold: a provider that cannot be reached is Inconclusive, never a pass', async () => {
    const world = new World();
    const port = await freePort();
    const spec = analysisTemplateSpec.parse({
      threshold: {
        metrics: [
          {
            name: 'prom',
            provider: { prometheus: { address: `http://127.0.0.1:${port}`, query: 'up' } },
            interval: '1s',
            successCondition: 'result == 1',
            consecutiveErrorLimit: 2,
          },
        ],
      },
    });
    const run = AnalysisRun.start('prom', spec, 'step', world.now, world.env);
    await world.run(run, 10);
    assert.equal(run.verdict(), 'Inconclusive');
    assert.equal(run.measurements.length, 3);
    assert.ok(
      run.measurements.every((m) => m.outcome === 'error' && /ECONNREFUSED/.test(m.message!)),
      JSON.stringify(run.measurements),
    );
  });

  it('threshold: a run ended before its count is Inconclusive', async () => {
    const world = new World();
    const run = AnalysisRun.start('checks', thresholdTemplate, 'step', world.now, world.env);
    await world.run(run, 15);
    run.finish(world.now);
    assert.equal(run.verdict(), 'Inconclusive');
  });

  it('sequential: a router that keeps users but does not count them stops the run as Inconclusive, never counting requests instead', async () => {
    const world = new World();
    world.canaryErrorRate = 0.05;
    const env = { ...world.env, assignment: 'key' as const };
    const run = AnalysisRun.start('sequential', BUILTIN_TEMPLATES.sequential!, 'background', world.now, env);
    await world.run(run, 20);
    assert.equal(run.verdict(), 'Inconclusive');
    assert.match(run.report().reason, /counts have no user dimension, but the router keeps each user on one version/);
  });

  it('sequential: rolls back on a 10x error rate within seconds, one recorded window per second, and resumes from JSON', async () => {
    const world = new World();
    world.canaryErrorRate = 0.01;
    const run = AnalysisRun.start('sequential', BUILTIN_TEMPLATES.sequential!, 'background', world.now, world.env);
    await world.run(run, 3);
    assert.equal(run.verdict(), 'Running');
    const saved = JSON.parse(JSON.stringify(run.toJSON()));
    const resumed = AnalysisRun.resume(saved, world.env);
    const took = await world.run(resumed, 120);
    assert.equal(resumed.verdict(), 'Failed');
    assert.ok(took < 60, `took ${took + 3} s`);
    assert.equal(resumed.measurements.length, took + 3);
    assert.deepEqual(resumed.measurements[3]!.window, { start: T0 + 3000, end: T0 + 4000 });
    const report = resumed.report();
    assert.equal(report.score, 0);
    assert.match(report.reason, /error/);
    assert.equal(report.metrics.find((m) => m.name === 'errors')!.verdict, 'Failed');
  });

  it('sequential: checks the sample ratio only on windows wholly inside one settled split', async () => {
    const spec = analysisTemplateSpec.parse({ sequential: { metrics: [{ name: 'errors', kind: 'errors' }] } });
    const world = new World(50, 0.2);
    // The splits as the engine saw them applied: 20% from long before, 50% from `changed`, settled 2.5 s later.
    let changed = Infinity;
    const settled = (t: number) => t >= changed + 2500;
    const env = {
      ...world.env,
      expectedShareAt: (start: number, end: number) =>
        end <= changed
          ? { requests: 0.2, keys: 0.2, control: 'stable' as const }
          : settled(start)
            ? { requests: 0.5, keys: 0.5, control: 'stable' as const }
            : undefined,
    };
    const run = AnalysisRun.start('sequential', spec, 'background', world.now, env);
    // Windows like Prometheus': one per 15 s scrape, read `late` seconds after it.
    const scrape = async (late = 0, change?: () => void) => {
      for (let i = 1; i <= 15; i++) {
        if (i === 15) change?.();
        world.second(i === 15);
      }
      for (let i = 0; i < late; i++) world.second(false);
      await run.tick(world.now);
    };
    await scrape();
    await scrape();
    // 14 s at 20%, 1 s at 50%, read 2 s later: the split has settled by then, but not in the window.
    await scrape(2, () => {
      changed = world.now;
      world.share = 0.5;
    });
    assert.equal(run.verdict(), 'Running', run.report().reason);
    await scrape();
    await scrape();
    assert.equal(run.verdict(), 'Running', run.report().reason);
    world.share = 0.2; // the canary serves 20% where the settled split says 50%: the guard tests the whole run's ratio
    for (let i = 0; i < 20 && run.verdict() === 'Running'; i++) await scrape();
    assert.equal(run.verdict(), 'Inconclusive');
    assert.match(run.report().reason, /sample-ratio mismatch/);
  });

  it('sequential: with nothing wrong keeps running with most of its budget left', async () => {
    const world = new World();
    const run = AnalysisRun.start('sequential', BUILTIN_TEMPLATES.sequential!, 'background', world.now, world.env);
    await world.run(run, 60);
    assert.equal(run.verdict(), 'Running');
    assert.ok(run.report().score > 50, `score ${run.report().score}`);
  });

  const kayenta = (count?: number) =>
    analysisTemplateSpec.parse({
      kayenta: {
        config: {
          metrics: [
            {
              name: 'error-rate',
              groups: ['errors'],
              analysisConfigurations: { canary: { direction: 'increase', critical: true } },
            },
            { name: 'latency-p90', groups: ['latency'], analysisConfigurations: { canary: { direction: 'increase' } } },
          ],
          classifier: { groupWeights: { errors: 50, latency: 50 } },
        },
        metrics: {
          'error-rate': { builtin: { signal: 'errorRate' } },
          'latency-p90': { builtin: { signal: 'latency', quantile: 0.9 } },
        },
        interval: '30s',
        step: '5s',
        ...(count ? { count } : {}),
        thresholds: { pass: 90, marginal: 50 },
      },
    });

  it('kayenta: scores each interval from per-step series of both sides, and passes a good canary after count', async () => {
    const world = new World(2000, 0.25);
    const run = AnalysisRun.start('kayenta', kayenta(2), 'step', world.now, world.env);
    const took = await world.run(run, 120);
    assert.equal(run.verdict(), 'Successful', run.report().reason);
    assert.equal(took, 60);
    const series = run.measurements.filter((m) => m.metric === 'latency-p90 (canary)');
    assert.equal(series.length, 2);
    assert.deepEqual(
      series[1]!.window,
      { start: T0, end: T0 + 60_000 },
      'the second interval judges everything since the start',
    );
    assert.equal((series[1]!.value as number[]).length, 12);
    assert.equal(run.report().score, 100);
  });

  it('kayenta: a slow canary scores at or below marginal and fails at the first interval', async () => {
    const world = new World(2000, 0.25);
    world.canaryLatency = 0.1;
    const run = AnalysisRun.start('kayenta', kayenta(), 'background', world.now, world.env);
    await world.run(run, 120);
    assert.equal(run.verdict(), 'Failed');
    const report = run.report();
    assert.match(
      report.reason,
      /Canary score of interval 1 50 is not above the marginal score threshold|Final canary score/,
    );
    assert.equal(report.metrics.find((m) => m.name === 'latency-p90')!.verdict, 'Failed');
  });
  const series = (count: number) =>
    analysisTemplateSpec.parse({
      series: {
        metrics: [
          { name: 'latency-p90', provider: { builtin: { signal: 'latency', quantile: 0.9 } }, tolerance: 0.01 },
          { name: 'errors', provider: { builtin: { signal: 'errorRate' } }, tolerance: 0.005 },
        ],
        interval: '30s',
        step: '3s',
        count,
      },
    });

  it('series: judges every interval on everything since the start, and passes a good canary after count', async () => {
    const world = new World(2000, 0.25);
    const run = AnalysisRun.start('series', series(2), 'step', world.now, world.env);
    assert.equal(await world.run(run, 30), 30);
    assert.equal(run.verdict(), 'Running');
    // A restarted controller picks the run up from its saved state.
    const resumed = AnalysisRun.resume(run.toJSON(), world.env);
    const took = await world.run(resumed, 120);
    assert.equal(resumed.verdict(), 'Successful', resumed.report().reason);
    assert.equal(took, 30);
    const canary = resumed.measurements.filter((m) => m.metric === 'latency-p90 (canary)');
    assert.deepEqual(canary[1]!.window, { start: T0, end: T0 + 60_000 });
    assert.equal((canary[1]!.value as number[]).length, 20);
    assert.equal(resumed.report().judge, 'series');
    assert.match(
      resumed.report().metrics[0]!.summary,
      /no worse than control by more than 0\.010 with \d+\.\d% confidence/,
    );
  });

  it('series: a slow canary fails at the first look, with its confidence', async () => {
    const world = new World(2000, 0.25);
    world.canaryLatency = 0.1;
    const run = AnalysisRun.start('series', series(3), 'background', world.now, world.env);
    assert.equal(await world.run(run, 120), 30);
    assert.equal(run.verdict(), 'Failed');
    assert.match(
      run.report().reason,
      /^latency-p90: the canary is worse with more than 99\.9% confidence \(p = [\d.e-]+ ≤ α = 8\.33e-3\)/,
    );
  });
});
