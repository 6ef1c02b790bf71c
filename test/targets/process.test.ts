/**
 * The process target with real processes: a group that grows and shrinks, and a group
 * that loses one instance stops the others rather than leaving them running unknown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTarget } from '../../src/config/schemas/rollout.js';
import { alive, ProcessGroup, type ProcessRecord } from '../../src/targets/process.js';
import { appCommand } from '../helpers/controller.js';

const logDir = mkdtempSync(join(tmpdir(), 'kanari-process-'));
const spec = (instances: number) => processTarget.parse({ command: appCommand(), instances, stopTimeout: '2s' });

describe('process target', () => {
  it('grows and shrinks a group: new processes are ready when it resolves, the last ones are the ones stopped', async () => {
    const spawned: ProcessRecord[] = [];
    const exits: string[] = [];
    const g = await ProcessGroup.start({ id: 'v1', version: 'v1', spec: spec(1), logDir, onExit: (r) => exits.push(r), onSpawn: (r) => spawned.push(r) });
    try {
      await g.scaleTo(3);
      assert.equal(g.size, 3);
      assert.deepEqual(spawned.at(-1), g.record, 'recorded as soon as spawned');
      for (const url of g.endpoints) assert.equal((await fetch(`${url}/`)).headers.get('x-app-version'), 'v1');
      const [first, , last] = g.record.pids;
      await g.scaleTo(2);
      assert.equal(g.size, 2);
      assert.ok(!alive(last!), 'the last process stopped');
      assert.ok(alive(first!));
      await sleep(1500);
      assert.deepEqual(exits, [], 'a process stopped on purpose is not a crash');
    } finally {
      await g.stop();
    }
  });

  it('one instance gone stops the rest of the group before reporting it', async () => {
    let reported: string | undefined;
    const g = await ProcessGroup.start({ id: 'v2', version: 'v2', spec: spec(3), logDir, onExit: (r) => (reported = r) });
    const pids = g.record.pids;
    process.kill(-pids[1]!, 'SIGKILL');
    for (let i = 0; i < 100 && reported === undefined; i++) await sleep(50);
    assert.match(reported ?? '', /instance 1 exited with SIGKILL/);
    assert.deepEqual(pids.map(alive), [false, false, false]);
  });
});
