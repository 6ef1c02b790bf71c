/**
 * A store that writes behind (the Rollout resource's status on Kubernetes): the engine
 * acts on a transition that starts a version or moves users onto one only once the store
 * says it is durable, so a restarted operator never resumes from before a step it took;
 * a rollback does not wait for the store.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStatusStore, memoryStore } from '../../src/store/memory.js';
import { doc, World } from '../helpers/engine-world.js';

/** Saves at once in memory, and says it is durable only while `open`. */
class BehindStore extends MemoryStatusStore {
  open = true;
  private waiting: (() => void)[] = [];

  durable(): Promise<void> {
    if (this.open) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  setOpen(open: boolean): void {
    this.open = open;
    if (open) for (const w of this.waiting.splice(0)) w();
  }
}

describe('a store that writes behind', () => {
  it('holds a new version and a weight step until they are durable', async () => {
    const status = new BehindStore();
    const w = new World(doc([{ setWeight: 20 }, { pause: {} }]), memoryStore({ status }));
    const engine = w.open();
    await w.until(engine, 'v1 serves', () => engine.status.appliedSeq === engine.status.trafficSeq);
    status.setOpen(false);
    await engine.send({ type: 'deploy', release: { version: 'v2', target: w.document.spec.canary } });
    for (let i = 0; i < 5; i++) await w.round(engine);
    assert.equal(w.target.running.has('v2'), false, 'v2 is not started before the deploy is durable');
    status.setOpen(true);
    await w.until(engine, 'the canary gets 20%', () => w.traffic.served?.weights.canary === 20);
    assert.equal(w.target.running.has('v2'), true);
    await engine.close();
  });

  it('takes users off the canary at once, durable or not', async () => {
    const status = new BehindStore();
    const w = new World(doc([{ setWeight: 20 }, { pause: {} }]), memoryStore({ status }));
    const engine = await w.canaryAt20();
    status.setOpen(false);
    assert.equal((await engine.send({ type: 'abort' })).rejected, undefined);
    await w.until(engine, 'traffic back on stable', () => w.traffic.served?.weights.canary === 0, 10);
    assert.equal(status.open, false, 'while the store still says nothing is durable');
    await engine.close();
  });
});
