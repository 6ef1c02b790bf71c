/**
 * The event stream across a `kill -9` of the controller (issue 13, "must show"): a client
 * reads the stream while a rollout runs and measures, the controller is killed, a new one
 * starts on the same state, the client resumes from its last event id, and what it got in
 * all has no gap and no duplicate — every id in the store up to its last, once, in order.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startLoad } from '../../src/demo/load.js';
import { Store } from '../../src/store/sqlite.js';
import { appRollout, listenPort, UpFixture } from '../helpers/controller.js';
import { SseReader, type StreamEvent } from '../helpers/sse.js';

function reader(f: UpFixture, lastId?: number): SseReader {
  const { url } = JSON.parse(readFileSync(join(f.state, 'controller.json'), 'utf8')) as { url: string };
  const token = readFileSync(join(f.state, 'api-token'), 'utf8').trim();
  return new SseReader(`${url}/api/v1/events`, {
    authorization: `Bearer ${token}`,
    ...(lastId === undefined ? {} : { 'last-event-id': String(lastId) }),
  });
}

const measurements = (events: StreamEvent[]) => events.filter((e) => e.data.type === 'measurement').length;

describe('the event stream', () => {
  it('resumes after kill -9 of the controller from the last event id, with no gap and no duplicate', async () => {
    const f = new UpFixture();
    const port = await listenPort();
    let load: ReturnType<typeof startLoad> | undefined;
    const readers: SseReader[] = [];
    try {
      const file = f.write(
        'shop.yaml',
        appRollout(
          'shop',
          port,
          `  strategy:
    canary:
      analysis: { templates: [errors] }
      steps:
        - setWeight: 20
        - pause: { duration: 10m }
---
apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: errors }
spec:
  sequential: { metrics: [{ name: errors, kind: errors }] }
`,
        ),
      );
      await f.up();
      const first = reader(f);
      readers.push(first);
      assert.equal((await f.cli('apply', '-f', file)).status, 0);
      await f.serving('shop');
      assert.equal((await f.cli('deploy', 'shop', '--version', 'v2')).status, 0);
      await f.until('shop', (v) => v.step === 1 && v.weights.canary === 20);
      load = startLoad({ host: '127.0.0.1', port }, { users: 200, concurrency: 2 });
      await first.until((e) => measurements(e) >= 3, 60_000, 'three measurements before the kill');
      await f.kill9();
      await first.closed;
      const cut = first.lastId!;

      await f.up();
      const second = reader(f, cut);
      readers.push(second);
      await second.until(
        (e) => measurements(e) >= 3 && e.some((x) => x.data.type === 'status' || x.data.type === 'measurement'),
        60_000,
        'three measurements after the restart',
      );
      second.close();

      const got = [...first.events, ...second.events].filter((e) => e.id !== undefined).map((e) => e.id!);
      for (let i = 1; i < got.length; i++)
        assert.ok(got[i]! > got[i - 1]!, `ids strictly increase: ${got[i - 1]} then ${got[i]}`);
      const store = new Store(join(f.state, 'kanari.db'));
      const stored = store
        .eventsAfter(0, { limit: 1_000_000 })
        .map((e) => e.id)
        .filter((id) => id <= got.at(-1)!);
      store.close();
      assert.deepEqual(got, stored, 'every stored id up to the last one received, once each');
      assert.ok(second.events[0]!.id! > cut, 'the second stream starts after the cut');
      assert.ok(stored.length > 10, `a real stream (${stored.length} events)`);
    } finally {
      for (const r of readers) r.close();
      await load?.stop();
      await f.close();
    }
  });
});
