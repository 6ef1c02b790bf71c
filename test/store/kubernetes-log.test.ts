/**
 * A Rollout's log as the ConfigMap keeps it (src/store/kubernetes-log-document.ts): its
 * name, its bounds whatever the rollout's length (events dropped oldest first but a
 * release's deploy and result last; history merged coarser, never dropped, a spike's
 * maximum error rate kept), what it reads back from an object a person edited, and a
 * leader change: the old leader's last write landing after the new leader read the object
 * is continued after (the new leader's unwritten events renumbered), a later leader's stops
 * the writer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  boundEvents,
  EVENTS_BUDGET,
  HISTORY_BUDGET,
  keptEvent,
  LOG_BUDGET,
  LOG_KEY,
  LogHistory,
  logName,
  packCounts,
  readLog,
  unpackCounts,
  writeLog,
  emptyLog,
  type LogDocument,
  type LogEvent,
} from '../../src/store/kubernetes-log-document.js';
import { EVIDENCE_PREFIX, TRAFFIC, type EvidenceBucket, type TrafficBucket } from '../../src/store/history.js';
import { LatencySketch, RELATIVE_ACCURACY } from '../../src/shared/sketch.js';
import { denseSketch } from '../../src/store/history.js';
import { seriesAnswer } from '../../src/server/series.js';
import { KubeConflict, KubeError, type KubeClient, type KubeObject } from '../../src/kube/api.js';
import { KubeRolloutLog } from '../../src/store/kubernetes-log.js';

const DNS = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function evidence(logE: number): EvidenceBucket {
  return { template: 'sequential', metrics: { errors: { logE, maxLogE: logE, rollbackAt: Math.log(20) } } };
}

function traffic(requests: number, errors: number): TrafficBucket {
  const latency = {
    accuracy: RELATIVE_ACCURACY,
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
    zero: 0,
    first: 0,
    counts: [],
  };
  return { canary: { requests, errors, maxErrorRate: requests > 0 ? errors / requests : 0, maxP99: 0, latency } };
}

describe('the name of a Rollout’s log', () => {
  it('is the Rollout’s name with .kanari-log, and a long one is cut with a hash so two never share one', () => {
    assert.equal(logName('web'), 'web.kanari-log');
    const a = `${'a'.repeat(250)}x`;
    const b = `${'a'.repeat(250)}y`;
    for (const n of [a, b, `${'a-'.repeat(120)}b`]) {
      assert.ok(logName(n).length <= 253, logName(n));
      assert.match(logName(n), DNS);
    }
    assert.notEqual(logName(a), logName(b));
  });
});

describe('the bounds of a Rollout’s log', () => {
  it('drops the oldest events past the budget, a release’s deploy and result only when nothing else is left', () => {
    let events: LogEvent[] = [];
    let dropped = 0;
    for (let id = 1; id <= 2000; id++) {
      const type = id % 100 === 1 ? 'deploy' : id % 100 === 99 ? 'result' : 'status';
      events.push({ id, revision: 1, at: id * 1000, type, data: { message: 'x'.repeat(400) } });
      const b = boundEvents(events);
      events = b.events;
      dropped = Math.max(dropped, b.droppedThrough);
    }
    assert.ok(JSON.stringify(events).length <= EVENTS_BUDGET);
    assert.equal(events.filter((e) => e.type === 'deploy').length, 20, 'every deploy kept');
    assert.equal(events.filter((e) => e.type === 'result').length, 20, 'every result kept');
    assert.equal(events.at(-1)!.id, 2000);
    assert.ok(dropped > 1500, `dropped through ${dropped}`);
    assert.deepEqual(
      events.map((e) => e.id),
      [...events.map((e) => e.id)].sort((x, y) => x - y),
    );
  });

  it('keeps a month of evidence and traffic under the budget, merged, never dropped, a 5-second spike still seen', () => {
    const h = new LogHistory();
    const start = Date.UTC(2026, 0, 1);
    const month = 30 * 86_400_000;
    let requests = 0;
    for (let at = start; at < start + month; at += 30_000) {
      for (const run of ['a', 'b']) h.add(`${EVIDENCE_PREFIX}${run}`, at, evidence(Math.sin(at / 1e7)));
      const spike = at === start + 60_000; // one window: half its requests failed
      h.add(TRAFFIC, at, traffic(100, spike ? 50 : 0));
      requests += 100;
    }
    h.bound();
    const rows = h.list();
    assert.ok(JSON.stringify(rows).length < LOG_BUDGET - EVENTS_BUDGET, `${JSON.stringify(rows).length} bytes`);
    const answer = seriesAnswer({ from: start, to: start + month, points: 100 }, rows);
    const canary = answer.versions.canary!;
    assert.equal(
      canary.requests.reduce((a: number, b) => a + (b ?? 0), 0),
      requests,
      'every request still counted',
    );
    assert.equal(canary.maxErrorRate[0], 0.5, 'the spike of the first minute, a month on');
    assert.equal(answer.evidence.length, 2);
  });
});

describe('the bounds of a Rollout’s log, at the extremes', () => {
  it('drops the oldest runs’ evidence, whole, only once a year a bucket is still too much', () => {
    const h = new LogHistory();
    for (let run = 0; run < 4000; run++) h.add(`${EVIDENCE_PREFIX}run-${run}`, run * 86_400_000, evidence(1));
    h.add(TRAFFIC, 0, traffic(10, 1));
    const dropped = h.bound();
    assert.ok(dropped > 0 && dropped < 4000, `${dropped} dropped`);
    assert.ok(h.bytes() <= LOG_BUDGET - EVENTS_BUDGET);
    const series = new Set(h.list().map((r) => r.series));
    assert.ok(series.has(`${EVIDENCE_PREFIX}run-3999`) && !series.has(`${EVIDENCE_PREFIX}run-0`), 'the newest kept');
    assert.ok(series.has(TRAFFIC), 'traffic never dropped');
  });

  it('keeps an event larger than 8 KiB as a note of its size', () => {
    const e = keptEvent({ id: 1, revision: 1, at: 0, type: 'status', data: { message: 'x'.repeat(20_000) } });
    assert.deepEqual(e.data, { truncated: "the event's data was 20014 bytes" });
  });
});

describe('a Rollout’s log read back', () => {
  const good = {
    v: 1,
    writer: { identity: 'op-1', seq: 3 },
    lastId: 7,
    droppedThrough: 0,
    events: [{ id: 7, revision: 1, at: 1, type: 'deploy', data: { version: 'v2' } }],
    history: [{ series: `${EVIDENCE_PREFIX}r`, width: 5000, start: 0, data: evidence(1) }],
  };

  it('reads what kanari wrote', () => {
    const { log, problem } = readLog({ [LOG_KEY]: JSON.stringify(good) });
    assert.equal(problem, undefined);
    assert.deepEqual(log, good);
  });

  it('reads garbage as an empty log with the reason, never a throw, and leaves out rows of the wrong shape', () => {
    for (const data of [
      undefined,
      null,
      42,
      { [LOG_KEY]: 'not json{' },
      { [LOG_KEY]: 7 },
      { [LOG_KEY]: '[]' },
      { [LOG_KEY]: '{"v":2}' },
      { [LOG_KEY]: 'null' },
    ]) {
      const { log } = readLog(data);
      assert.deepEqual([log.events, log.history, log.lastId], [[], [], 0], JSON.stringify(data));
    }
    const edited = {
      ...good,
      lastId: 'many',
      events: [...good.events, { id: -1 }, 'x', { id: 9, revision: 1, at: 2, type: 'status', data: [] }],
      history: [...good.history, { series: TRAFFIC, width: 1000, start: 0, data: { canary: { requests: -5 } } }],
    };
    const { log, problem } = readLog({ [LOG_KEY]: JSON.stringify(edited) });
    assert.match(problem!, /4 of its rows are not of a kanari log's shape/);
    assert.deepEqual(
      log.events.map((e) => e.id),
      [7],
    );
    assert.equal(log.lastId, 7, 'ids go on after the newest kept');
    assert.equal(log.history.length, 1);
  });

  it('leaves out an event nested too deep to be written again, and a new leader continues the log', async () => {
    // Anyone who may edit ConfigMaps in the namespace can write this: JSON.parse reads it,
    // JSON.stringify overflows the stack on it — which once stopped the leader taking the
    // Rollout on at all (no progress, no rollback) and made the API answer 500.
    const depth = 20_000;
    const deep = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const events = [
      JSON.stringify(good.events[0]),
      `{"id":8,"revision":1,"at":2,"type":"status","data":{"nested":${deep}}}`,
      JSON.stringify({ id: 9, revision: 1, at: 3, type: 'status', data: { message: 'x'.repeat(20_000) } }),
    ];
    const text = `{"v":1,"lastId":9,"droppedThrough":0,"events":[${events.join(',')}],"history":[]}`;
    const { log, problem } = readLog({ [LOG_KEY]: text });
    assert.match(problem ?? '', /1 of its rows are not of a kanari log's shape/);
    assert.deepEqual(
      log.events.map((e) => e.id),
      [7, 9],
    );
    assert.deepEqual(log.events[1]!.data, { truncated: "the event's data was 20014 bytes" }, 'bounded as when written');
    assert.equal(log.lastId, 9);
    assert.doesNotThrow(() => JSON.stringify(log));

    const rollout = {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'web', namespace: 'default', uid: 'u-1' },
    } as KubeObject;
    const found = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'web.kanari-log',
        namespace: 'default',
        resourceVersion: '5',
        ownerReferences: [{ apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', name: 'web', uid: 'u-1' }],
      },
      data: { [LOG_KEY]: text },
    } as unknown as KubeObject;
    const client = {
      get: () => Promise.resolve(found),
      replace: (o: KubeObject) => Promise.resolve(o),
    } as unknown as KubeClient;
    const writer = await KubeRolloutLog.open({ client, rollout, identity: 'op-2', log: () => {} });
    writer.append([{ revision: 1, at: 4, type: 'status', data: {} }]);
    assert.equal(writer.lastId, 10);
    assert.doesNotThrow(() => JSON.stringify(writer.document()));
    await writer.close(0);
  });
});

describe('a Rollout’s log the operator may not read', () => {
  it('lets the rollout go on unlogged, and says why (a ClusterRole from before the log)', async () => {
    const written: KubeObject[] = [];
    const client = {
      get: () =>
        Promise.reject(
          new KubeError(403, 'Forbidden', 'configmaps "web.kanari-log" is forbidden: User cannot get resource'),
        ),
      create: (o: KubeObject) => (written.push(o), Promise.resolve(o)),
      replace: (o: KubeObject) => (written.push(o), Promise.resolve(o)),
    } as unknown as KubeClient;
    const rollout = {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'web', namespace: 'default', uid: 'u-1' },
    } as KubeObject;
    const lines: string[] = [];
    const log = await KubeRolloutLog.open({ client, rollout, identity: 'op-1', log: (l) => lines.push(l) });
    log.append([{ revision: 1, at: 1, type: 'deploy', data: {} }]);
    await log.flush();
    await log.close(0);
    assert.deepEqual(written, [], 'what it cannot read it does not write: ids could go back');
    assert.match(
      lines.join('\n'),
      /cannot read ConfigMap default\/web\.kanari-log .*forbidden.*: the log is not written/,
    );
  });
});

/** A ConfigMap store that refuses a write at a resourceVersion it no longer has, as the API server does. */
function world() {
  let stored: KubeObject | undefined;
  let version = 0;
  /** While set, a write waits for it before it lands (one in flight). */
  let gate: Promise<void> | undefined;
  const put = async (o: KubeObject) => {
    await gate;
    if (stored && o.metadata.resourceVersion !== stored.metadata.resourceVersion)
      return Promise.reject(new KubeConflict('Conflict', 'the object has been modified'));
    stored = structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: String(++version) } });
    return structuredClone(stored);
  };
  const client = {
    get: () => Promise.resolve(stored && structuredClone(stored)),
    create: put,
    replace: put,
  } as unknown as KubeClient;
  const rollout = {
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web', namespace: 'default', uid: 'u-1' },
  } as KubeObject;
  const lines: string[] = [];
  return {
    lines,
    open: (identity: string, term?: number) =>
      KubeRolloutLog.open({
        client,
        rollout,
        identity,
        ...(term === undefined ? {} : { term }),
        log: (l) => lines.push(l),
      }),
    stored: () => readLog((stored as { data?: unknown } | undefined)?.data).log,
    /** The object as the API server holds it now. */
    object: () => stored,
    /** Someone else's write: the object replaced, at a new resourceVersion. */
    replace: (o: KubeObject) => {
      stored = { ...o, metadata: { ...o.metadata, resourceVersion: String(++version) } };
    },
    events: () => readLog((stored as { data?: unknown } | undefined)?.data).log.events.map((e) => [e.id, e.type]),
    /** Holds writes until the returned function is called. */
    hold: () => {
      let open = () => {};
      gate = new Promise<void>((resolve) => (open = resolve));
      return () => {
        gate = undefined;
        open();
      };
    },
  };
}

describe('a Rollout’s log closed', () => {
  const row = (type: string) => [{ revision: 1, at: 1, type, data: {} }];

  it('leaves every event appended before it closed, one that came while a write was in flight too', async () => {
    const w = world();
    const log = await w.open('op-1', 1);
    log.append(row('deploy'));
    const release = w.hold();
    const first = log.flush();
    // While that write is on its way, the last transitions come, then the runner closes.
    log.append(row('status'));
    const closing = log.close();
    log.append(row('result'));
    setTimeout(release, 20);
    await Promise.all([first, closing]);
    assert.deepEqual(w.events(), [
      [1, 'deploy'],
      [2, 'status'],
      [3, 'result'],
    ]);
    log.append(row('after'));
    await log.flush();
    assert.equal(w.events().length, 3, 'nothing after it closed');
  });

  it('leaves an event appended as the write before it closed lands', async () => {
    const w = world();
    const log = await w.open('op-1', 1);
    log.append(row('deploy'));
    const release = w.hold();
    const closing = log.close();
    // Appended in the same turn as the write lands, after close() began waiting for it.
    void log.flush().then(() => log.append(row('result')));
    release();
    await closing;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(w.events(), [
      [1, 'deploy'],
      [2, 'result'],
    ]);
  });
});

describe('a Rollout’s log replaced by someone else’s ConfigMap of its name', () => {
  it('is not written over it after the conflict that replacement causes', async () => {
    const w = world();
    const log = await w.open('op-1');
    log.append([{ revision: 1, at: 1, type: 'deploy', data: {} }]);
    await log.flush();
    // A person deletes it and makes their own of that name (kubectl create configmap web.kanari-log …).
    const theirs = { settings: 'mine' };
    w.replace({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web.kanari-log', namespace: 'default' },
      data: theirs,
    } as KubeObject);
    log.append([{ revision: 1, at: 2, type: 'status', data: {} }]);
    await log.flush();
    await log.close(0);
    assert.deepEqual((w.object() as { data?: unknown }).data, theirs, w.lines.join('\n'));
    assert.match(w.lines.join('\n'), /web\.kanari-log is not kanari's/);
  });
});

describe('a Rollout’s log across a leader change', () => {
  const row = (type: string) => [{ revision: 1, at: 1, type, data: {} }];
  const at = 1_700_000_000_000;
  /** A sequential run's counted window of 5 s, as its `window` measurement (the canary's requests). */
  const counted = (start: number, requests: number) => [
    {
      metric: 'window',
      window: { start, end: start + 5000 },
      outcome: 'value' as const,
      value: { canary: { requests, errors: 0 } } as unknown as number,
    },
  ];
  const requestsAt = (doc: LogDocument, start: number) =>
    (doc.history.find((r) => r.series === TRAFFIC && r.start === start)?.data as TrafficBucket | undefined)?.canary
      ?.requests;

  for (const [what, terms] of [
    ['of an earlier lease term', [1, 2]],
    ['written before terms (kanari upgraded mid-rollout)', [undefined, 2]],
    ['written before terms, by leaders both without one', [undefined, undefined]],
  ] as const)
    it(`is written on by the new leader when the old leader’s last write, ${what}, lands after the new one read it`, async () => {
      const w = world();
      const a = await w.open('op-1', terms[0]);
      a.append(row('deploy'));
      a.addHistory(TRAFFIC, at, traffic(100, 1));
      await a.flush();
      a.append(row('status'));
      a.addHistory(TRAFFIC, at, traffic(10, 0));
      a.addWindows(counted(at - 60_000, 7));
      // op-1's lease has passed; op-2 reads the log before op-1's last write lands.
      const b = await w.open('op-2', terms[1]);
      await a.close();
      assert.deepEqual(w.events(), [
        [1, 'deploy'],
        [2, 'status'],
      ]);
      b.append(row('promote'));
      b.addHistory(TRAFFIC, at, traffic(50, 2));
      // Judging the same run from the same Prometheus, it counts the window op-1 counted, and the next.
      b.addWindows([...counted(at - 60_000, 7), ...counted(at - 55_000, 9)]);
      await b.flush();
      b.append(row('result'));
      await b.flush();
      await b.close();
      // Its own unwritten events after the late write's, which readers may have seen: ids never reused.
      assert.deepEqual(
        w.events(),
        [
          [1, 'deploy'],
          [2, 'status'],
          [3, 'promote'],
          [4, 'result'],
        ],
        w.lines.join('\n'),
      );
      assert.equal(w.stored().lastId, 4);
      assert.deepEqual(w.stored().writer, {
        identity: 'op-2',
        ...(terms[1] === undefined ? {} : { term: 2 }),
        seq: 2,
      });
      // Each leader's traffic once: the old leader's (110 requests, 1 error) and the new one's (50, 2).
      const cell = w.stored().history.find((r) => r.series === TRAFFIC && r.start === at)!.data as TrafficBucket;
      assert.deepEqual([cell.canary?.requests, cell.canary?.errors], [160, 3]);
      assert.deepEqual(
        [requestsAt(w.stored(), at - 60_000), requestsAt(w.stored(), at - 55_000), w.stored().trafficThrough],
        [7, 9, at - 50_000],
        'a window both counted, once',
      );
      assert.match(w.lines.join('\n'), /replica op-1's last write landed after this replica took it over/);
      assert.doesNotMatch(w.lines.join('\n'), /stopped writing/);
    });

  for (const [what, rival] of [
    ['another replica of the same term', { identity: 'op-3', term: 2 }],
    ['a later term', { identity: 'op-3', term: 3 }],
    ['the old leader in a later term (it led again)', { identity: 'op-1', term: 3 }],
    ['a replica without a term that is not the leader it took over from', { identity: 'op-3' }],
  ] as const)
    it(`stops writing once ${what} has written it`, async () => {
      const w = world();
      const a = await w.open('op-1', 1);
      a.append(row('deploy'));
      await a.flush();
      await a.close();
      const b = await w.open('op-2', 2);
      const r = await w.open(rival.identity, 'term' in rival ? rival.term : undefined);
      r.append(row('status'));
      await r.flush();
      b.append(row('promote'));
      await b.flush();
      await b.close();
      await r.close();
      assert.deepEqual(w.events(), [
        [1, 'deploy'],
        [2, 'status'],
      ]);
      assert.match(
        w.lines.join('\n'),
        /stopped writing ConfigMap default\/web\.kanari-log: replica op-\d has written it since/,
      );
    });

  it('and the old leader stops once the new one, of a later term, has written', async () => {
    const w = world();
    const a = await w.open('op-1', 1);
    a.append(row('deploy'));
    await a.flush();
    const b = await w.open('op-2', 2);
    b.append(row('promote'));
    await b.flush();
    // Its fenced client let a write through just before its lease passed; it lands on a conflict.
    a.append(row('status'));
    await a.flush();
    await a.close();
    await b.close();
    assert.deepEqual(w.events(), [
      [1, 'deploy'],
      [2, 'promote'],
    ]);
    assert.match(
      w.lines.join('\n'),
      /stopped writing ConfigMap default\/web\.kanari-log: replica op-2 has written it since/,
    );
  });
});

describe('latency in a Rollout’s log', () => {
  /** A cell whose latency is a histogram's: `per` requests at each of Envoy's bucket bounds up to 10 s. */
  function histogramCell(per: number): TrafficBucket {
    const sketch = new LatencySketch();
    for (const ms of [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]) sketch.add(ms / 1000, per);
    const latency = denseSketch(sketch.toJSON());
    return { canary: { requests: sketch.count, errors: 0, maxErrorRate: 0, maxP99: 10, latency } };
  }

  it('writes runs of zeros as their length, and reads back only what that could have made', () => {
    assert.deepEqual(packCounts([5, 0, 0, 0, 2, 0]), [5, -3, 2, -1]);
    assert.deepEqual(unpackCounts([5, -3, 2, -1]), [5, 0, 0, 0, 2, 0]);
    for (const bad of [[-1e9], [1, -4096], [-1.5], [NaN], ['1'], 'x', new Array(4097).fill(1)])
      assert.equal(unpackCounts(bad), undefined, JSON.stringify(bad).slice(0, 40));
  });

  it('keeps a histogram’s sketch in a fraction of its bins’ bytes, and reads it back the same', () => {
    const cell = histogramCell(10);
    const dense = JSON.stringify(cell).length;
    const log = { ...emptyLog(), history: [{ series: TRAFFIC, width: 5000, start: 0, data: cell }] };
    const text = writeLog(log);
    assert.ok(text.length < dense / 2, `${text.length} bytes written against ${dense} dense`);
    const back = readLog({ [LOG_KEY]: text });
    assert.equal(back.problem, undefined);
    assert.deepEqual(back.log.history[0]!.data, JSON.parse(JSON.stringify(cell)));
  });

  it('reads a row whose packed counts were tampered with as no row, never a huge array', () => {
    const log = { ...emptyLog(), history: [{ series: TRAFFIC, width: 5000, start: 0, data: histogramCell(1) }] };
    const doc = JSON.parse(writeLog(log));
    doc.history[0].data.canary.latency.counts = [1, -(2 ** 31)];
    const { log: back, problem } = readLog({ [LOG_KEY]: JSON.stringify(doc) });
    assert.equal(back.history.length, 0);
    assert.match(problem!, /1 of its rows/);
  });

  it('a day of two versions’ histograms fits the budget, merged a minute or ten at a time, every request still in a sketch', () => {
    const h = new LogHistory();
    const start = Date.UTC(2026, 0, 1);
    let requests = 0;
    for (let at = start; at < start + 86_400_000; at += 5000) {
      h.add(TRAFFIC, at, { ...histogramCell(10), stable: histogramCell(90).canary! });
      requests += 1200;
      if (at % 3_600_000 === 0) assert.equal(h.bound(), 0);
    }
    assert.equal(h.bound(), 0);
    assert.ok(h.bytes() <= HISTORY_BUDGET, `${h.bytes()} bytes`);
    const rows = h.list();
    assert.ok(Math.max(...rows.map((r) => r.width)) <= 600_000, 'no coarser than ten minutes');
    const answer = seriesAnswer({ from: start, to: start + 86_400_000, points: 100 }, rows);
    const sum = (xs: (number | null)[]) => xs.reduce((a: number, b) => a + (b ?? 0), 0);
    assert.equal(sum(answer.versions.canary!.requests) + sum(answer.versions.stable!.requests), requests);
    assert.ok(answer.versions.canary!.p99.every((x) => x === null || Math.abs(x / 10 - 1) < 0.01));
  });
});
