/**
 * The Secret several operator replicas keep rows in (src/store/kubernetes-secret.ts), over a
 * stub client whose reads the test settles: requests that wait for a read another request
 * makes share its outcome as that one does; and what sign-ins in a loop cost.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { KubeError, type KubeClient, type KubeObject } from '../../src/kube/api.js';
import { HttpError } from '../../src/shared/http.js';
import { Sessions } from '../../src/server/sessions.js';
import { SecretData } from '../../src/store/kubernetes-secret.js';
import { KubernetesSessionRows } from '../../src/store/kubernetes-sessions.js';
import type { TokenRows } from '../../src/store/tokens.js';

describe('the rows Secret read by requests that wait for one read', () => {
  it('serves what was read last to every waiter when that read fails, never a bare error (a 500)', async () => {
    const reads: { resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
    const client = {
      get: () => new Promise((resolve, reject) => reads.push({ resolve, reject })),
    } as unknown as KubeClient;
    const secret = new SecretData({
      client,
      namespace: 'kanari-system',
      name: 'kanari-api-sessions',
      what: 'browser sessions',
      component: 'api-sessions',
      log: () => {},
      missIntervalMs: 50,
      take: () => {},
    });
    // A session not known here: read at once (and that read succeeds).
    const first = secret.refresh(true, true);
    reads[0]!.resolve({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kanari-api-sessions' }, data: {} });
    await first;
    // Two more within the interval: both wait for its end; the first to wake reads, the other shares that read.
    const waiting = [secret.refresh(true, true), secret.refresh(true, true)];
    const outcomes = waiting.map((p) =>
      p.then(
        () => 'served',
        (err: unknown) => err,
      ),
    );
    const deadline = Date.now() + 10_000;
    while (reads.length < 2) {
      if (Date.now() > deadline) assert.fail('no second read within 10 s');
      await sleep(5);
    }
    // Both woke in the same turn of the timers: the one that did not read is waiting on the read that did.
    await sleep(20);
    reads[1]!.reject(new KubeError(0, 'Unreachable', 'connect ECONNREFUSED 10.0.0.1:443'));
    assert.deepEqual(await Promise.all(outcomes), ['served', 'served'], 'the last read is 30 s good while reads fail');
    assert.equal(reads.length, 2, 'one read for both');
  });
});

// Each sign-in writes the whole Secret (up to 900 KiB) into etcd, which keeps every version until
// compaction: past SIGN_INS_PER_MINUTE an actor's sign-ins are refused (429) before anything is written.
describe('sign-ins kept in the sessions Secret', () => {
  it('cost the API server less than a whole Secret written per sign-in when one token signs in in a loop', async () => {
    let stored: KubeObject | undefined;
    let writes = 0;
    const client = {
      get: () => Promise.resolve(stored && structuredClone(stored)),
      create: (o: KubeObject) => {
        writes++;
        stored = { ...o, metadata: { ...o.metadata, resourceVersion: '1' } };
        return Promise.resolve(structuredClone(stored));
      },
      replace: (o: KubeObject) => {
        writes++;
        stored = { ...o, metadata: { ...o.metadata, resourceVersion: String(writes) } };
        return Promise.resolve(structuredClone(stored));
      },
    } as unknown as KubeClient;
    const rows = new KubernetesSessionRows({ client, namespace: 'kanari-system', log: () => {} });
    const sessions = new Sessions(rows, { byId: () => undefined } as unknown as TokenRows);
    let refused = 0;
    for (let i = 0; i < 100; i++)
      await sessions.start({ actor: 'viewer-bot', role: 'viewer', via: 'oidc' }).catch((err: unknown) => {
        assert.ok(err instanceof HttpError && err.status === 429, String(err));
        refused++;
      });
    assert.ok(writes <= 10, `${writes} writes of the whole Secret for 100 sign-ins of one actor`);
    assert.equal(refused, 90);
  });
});
