/**
 * The process target with real processes: a group that grows and shrinks, and a group
 * that loses one instance, whose survivors are adopted or stopped, never left unknown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTarget } from '../../src/config/schemas/rollout.js';
import { alive, ProcessGroup, startOf, stopProcesses, type ProcessRecord } from '../../src/targets/process.js';
import { ProcessTarget } from '../../src/targets/process.js';
import { appCommand } from '../helpers/controller.js';

// A log directory per test: the tests run side by side and name their groups alike.
const newLogDir = () => mkdtempSync(join(tmpdir(), 'kanari-process-'));
const spec = (instances: number) => processTarget.parse({ command: appCommand(), instances, stopTimeout: '2s' });

// Each test has its own group; the adoption test mostly waits out its slow probe, so they run side by side.
describe('process target', { concurrency: true }, () => {
  it('grows and shrinks a group: new processes are ready when it resolves, the last ones are the ones stopped', async () => {
    const logDir = newLogDir();
    const spawned: ProcessRecord[] = [];
    const exits: string[] = [];
    const g = await ProcessGroup.start({
      id: 'v1',
      version: 'v1',
      spec: spec(1),
      logDir,
      onExit: (r) => exits.push(r),
      onSpawn: (r) => spawned.push(r),
    });
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

  it('adopts a group that is slow to answer within the adoption timeout it is given, rather than killing a process that serves', async () => {
    const logDir = newLogDir();
    const g = await ProcessGroup.start({ id: 'v1', version: 'v1', spec: spec(1), logDir, onExit: () => {} });
    g.release();
    const pid = g.record.pids[0]!;
    const begun = Date.now();
    // Answers only after 7 s, as a router on a machine with a long run queue might.
    const options = {
      id: 'v1',
      version: 'v1',
      spec: spec(1),
      logDir,
      onExit: () => {},
      probe: async () => (Date.now() - begun > 7000 ? undefined : 'not answering yet'),
      adoptTimeout: 20_000,
    };
    const adopted = await ProcessGroup.adopt(options, g.record);
    try {
      assert.ok(adopted, 'adopted');
      assert.ok(alive(pid), 'the process it adopted still runs');
    } finally {
      await (adopted ?? g).stop();
    }
  });

  it('a group that lost one instance is reported gone; the next start adopts the survivors and grows back, a removal stops them', async () => {
    const logDir = newLogDir();
    const records = new Map<string, ProcessRecord | undefined>();
    const exits: string[] = [];
    const targets = new ProcessTarget(
      { logDir, persist: (id, r) => records.set(id, r), recall: (id) => records.get(id) },
      { exited: (id, why) => exits.push(`${id}: ${why}`), save: (write) => write() },
    );
    const pool = (version: string) => ({ id: version, version, target: { process: spec(3), size: 3 }, size: 3 });
    const size = (id: string) => {
      const r = targets.readiness(id);
      return r.state === 'ready' ? r.size : undefined;
    };
    const endpoints = (id: string) => {
      const r = targets.readiness(id);
      return r.state === 'ready' ? r.endpoints : [];
    };
    try {
      await targets.ensure(pool('v1'));
      const before = records.get('v1')!.pids;
      process.kill(-before[1]!, 'SIGKILL');
      for (let i = 0; i < 100 && exits.length === 0; i++) await sleep(50);
      assert.match(exits[0] ?? '', /^v1: instance 1 exited with SIGKILL/);
      assert.deepEqual(records.get('v1')!.pids, [before[0], before[2]], 'the survivors stay on record, still running');
      assert.equal(targets.readiness('v1').state, 'absent');
      await targets.ensure(pool('v1'));
      assert.equal(size('v1'), 2, 'adopted, not started again');
      await targets.resize('v1', 3);
      assert.deepEqual(records.get('v1')!.pids.slice(0, 2), [before[0], before[2]]);
      assert.equal(endpoints('v1').length, 3);

      await targets.ensure(pool('v2'));
      const canary = records.get('v2')!.pids;
      process.kill(-canary[0]!, 'SIGKILL');
      for (let i = 0; i < 100 && exits.length < 2; i++) await sleep(50);
      await targets.remove('v2');
      assert.deepEqual(canary.map(alive), [false, false, false], 'a rolled-back canary leaves nothing behind');
    } finally {
      await targets.stopAll();
    }
  });
});

describe('a recorded pid that is now another process', () => {
  /** A process in a group of its own, as kanari starts instances; under a name with ')' and spaces, as /proc shows it. */
  function stranger(): { pid: number; stop(): void } {
    const dir = mkdtempSync(join(tmpdir(), 'kanari-stranger-'));
    const exe = join(dir, 'a) b');
    copyFileSync('/bin/sleep', exe);
    chmodSync(exe, 0o755);
    const child = spawn(exe, ['60'], { detached: true, stdio: 'ignore' });
    child.unref();
    return { pid: child.pid!, stop: () => alive(child.pid!) && process.kill(-child.pid!, 'SIGKILL') };
  }

  it('reads when a process started, whatever its name', () => {
    const s = stranger();
    try {
      const start = startOf(s.pid);
      assert.ok(start !== undefined && start >= startOf(process.pid)!, `the stranger started at tick ${start}`);
      assert.equal(startOf(2 ** 22 + 1), undefined, 'no such process');
    } finally {
      s.stop();
    }
  });

  it('is neither adopted nor signalled when it started at another time than recorded', async () => {
    const s = stranger();
    try {
      const recorded = { pids: [s.pid], ports: [1], starts: [startOf(s.pid)! - 1] };
      assert.equal(alive(s.pid, recorded.starts[0]), false, 'not ours');
      const adopted = await ProcessGroup.adopt(
        { id: 'v1', version: 'v1', spec: spec(1), logDir: newLogDir(), onExit: () => {} },
        recorded,
      );
      assert.equal(adopted, undefined);
      await stopProcesses(recorded.pids, 200, recorded.starts);
      assert.ok(alive(s.pid), 'the stranger still runs');
      // Recorded with its own start, it is ours: stopped.
      await stopProcesses([s.pid], 2000, [startOf(s.pid)!]);
      assert.equal(alive(s.pid), false);
    } finally {
      s.stop();
    }
  });

  it('records when each instance started', async () => {
    const g = await ProcessGroup.start({
      id: 'v1',
      version: 'v1',
      spec: spec(2),
      logDir: newLogDir(),
      onExit: () => {},
    });
    try {
      assert.deepEqual(
        g.record.starts,
        g.record.pids.map((pid) => startOf(pid)),
      );
      assert.equal(g.record.starts!.length, 2);
    } finally {
      await g.stop();
    }
  });
});
