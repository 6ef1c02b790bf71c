/**
 * A rollout engine on in-memory fakes and a virtual clock, driven round by round: the
 * world the engine's unit tests (engine-unit, stopped) run in.
 */
import assert from 'node:assert/strict';
import { analysisTemplateSpec, type AnalysisTemplateSpec } from '../../src/config/schemas/analysis.js';
import { rolloutDocument, type RolloutDocument } from '../../src/config/schemas/rollout.js';
import { RolloutEngine } from '../../src/rollout/engine.js';
import type { RolloutStore } from '../../src/rollout/seams/store.js';
import { memoryStore } from '../../src/store/memory.js';
import { FakeStats, FakeTarget, FakeTraffic, VirtualClock } from './fakes.js';

export const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

export function doc(steps: unknown[], analysis?: string[]): RolloutDocument {
  return docWith({ canary: { steps, ...(analysis ? { analysis: { templates: analysis } } : {}) } });
}

/** The rollout `shop` (v1 stable, a canary of two process instances) with this strategy. */
export function docWith(strategy: unknown): RolloutDocument {
  return rolloutDocument.parse({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'shop' },
    spec: {
      listen: '127.0.0.1:0',
      stable: { version: 'v1', upstreams: ['http://127.0.0.1:9001'] },
      canary: { process: { command: 'true', instances: 2 } },
      strategy,
    },
  });
}

/** A threshold template of one metric, the canary's success rate each second, with `fields` set. */
export function successRate(fields: object): AnalysisTemplateSpec {
  return analysisTemplateSpec.parse({
    threshold: {
      metrics: [{ name: 'success-rate', provider: { builtin: { signal: 'successRate' } }, interval: '1s', ...fields }],
    },
  });
}

export const templates: Record<string, AnalysisTemplateSpec> = {
  /** At least 99% passes, under 50% fails, in between says nothing; three measurements. */
  'success-rate': successRate({ count: 3, successCondition: 'result >= 0.99', failureCondition: 'result < 0.5' }),
  /** Passes only after far more canary requests than a test sends: it waits for data. */
  'needs-data': analysisTemplateSpec.parse({ sequential: { promotion: { minRequests: 1_000_000 } } }),
  /** Watches every second and never ends by itself while the canary is healthy: only the rollout ends it. */
  watch: successRate({ failureCondition: 'result < 0.5' }),
};

export class World {
  readonly clock = new VirtualClock();
  readonly traffic = new FakeTraffic();
  readonly target = new FakeTarget();
  readonly stats = new FakeStats(this.clock, () => (this.traffic.served?.weights.canary ?? 0) / 100);
  readonly log: string[] = [];

  constructor(
    readonly document: RolloutDocument,
    readonly store: RolloutStore = memoryStore(),
  ) {}

  open(): RolloutEngine {
    return new RolloutEngine({
      document: this.document,
      templates,
      store: this.store,
      traffic: this.traffic,
      targets: this.target.factory(),
      stats: this.stats.source,
      clock: this.clock,
      log: (line) => this.log.push(line),
    });
  }

  /** One second of traffic, then one round. */
  async round(engine: RolloutEngine): Promise<void> {
    this.stats.second();
    this.clock.advance(1000);
    await engine.tick();
    await flush();
  }

  async until(engine: RolloutEngine, what: string, ok: () => boolean, rounds = 60): Promise<void> {
    for (let i = 0; i < rounds && !ok(); i++) await this.round(engine);
    assert.ok(ok(), `${what}; status ${JSON.stringify(engine.status)}`);
  }

  /** Once v1 serves, deploys v2. */
  async deploy(engine: RolloutEngine): Promise<void> {
    await this.until(engine, 'v1 serves', () => engine.status.appliedSeq === engine.status.trafficSeq);
    const sent = await engine.send({ type: 'deploy', release: { version: 'v2', target: this.document.spec.canary } });
    assert.equal(sent.rejected, undefined);
  }

  /** An engine whose canary v2 gets its first weight, 20%. */
  async canaryAt20(): Promise<RolloutEngine> {
    const engine = this.open();
    await this.deploy(engine);
    await this.until(engine, 'the canary gets 20%', () => this.traffic.served?.weights.canary === 20);
    return engine;
  }
}
