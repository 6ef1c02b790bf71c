import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { KubeError, KubeGone, type WatchEvent } from '../../src/kube/api.js';
import { fixedCredential } from '../../src/kube/credentials.js';
import { kubeClient, type KubeClientLimits } from '../../src/kube/http-client.js';
import {
  sendJson,
  sendStatus,
  startScriptedServer,
  type Received,
  type ScriptedServer,
} from '../helpers/kube/scripted-server.js';

const DISCOVERY = { kind: 'APIResourceList', resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }] };
const event = (type: string, rv: string, name = 'web') =>
  `${JSON.stringify({ type, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, resourceVersion: rv } } })}\n`;

/** What each watch test's stream does, by the labelSelector it asks with. */
const STREAMS: Record<string, (res: ServerResponse) => void> = {
  events(res) {
    // One event split across writes, and a bookmark: each delivered whole, in order.
    const all = event('ADDED', '11') + event('MODIFIED', '12') + event('BOOKMARK', '15') + event('DELETED', '16');
    res.write(all.slice(0, 30));
    setTimeout(() => res.end(all.slice(30)), 50);
  },
  gone(res) {
    res.write(event('ADDED', '11'));
    res.end(
      `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', status: 'Failure', message: 'too old resource version: 10 (12)', reason: 'Expired', code: 410 } })}\n`,
    );
  },
  long(res) {
    res.write(`{"type":"ADDED","object":{"metadata":{"name":"${'x'.repeat(200 * 1024)}`);
  },
  stall(res) {
    res.write(event('ADDED', '11'));
  },
  drip(res) {
    res.write(event('ADDED', '11'));
    const timer = setInterval(() => res.write(' '), 100);
    res.once('close', () => clearInterval(timer));
  },
  reset(res) {
    res.write(event('ADDED', '11'));
    setTimeout(() => res.socket?.destroy(), 50);
  },
  garbage(res) {
    res.end('this is not JSON\n');
  },
  bare(res) {
    res.end('{"type":"ADDED","object":{"kind":"ConfigMap"}}\n');
  },
  forever(res) {
    res.write(event('ADDED', '11'));
  },
};

describe('watch', () => {
  let server: ScriptedServer;
  before(async () => {
    server = await startScriptedServer((req: Received, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/api/v1') return sendJson(res, 200, DISCOVERY);
      const selector = url.searchParams.get('labelSelector') ?? '';
      if (selector === 'refused') return sendStatus(res, 410, 'Expired', 'too old resource version: 1 (2)');
      res.writeHead(200, { 'content-type': 'application/json' });
      STREAMS[selector]!(res);
    });
  });
  after(() => server.close());

  const limits: Partial<KubeClientLimits> = { timeoutSeconds: 1, graceMs: 500, maxLineBytes: 64 * 1024 };
  const client = () =>
    kubeClient(
      {
        server: server.url,
        namespace: 'shop',
        tls: { insecure: false },
        credentials: fixedCredential({}),
        origin: 'test',
      },
      limits,
    );
  const watch = (selector: string, onEvent: (e: WatchEvent) => void = () => {}) =>
    client().watch('v1', 'ConfigMap', { namespace: 'shop', resourceVersion: '10', labelSelector: selector }, onEvent);
  const failure = async (done: Promise<void>): Promise<KubeError> => {
    const err = await done.then(
      () => assert.fail('expected the watch to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof KubeError, String(err));
    assert.ok(!err.message.includes('\n'), err.message);
    return err;
  };

  it('delivers events and bookmarks in order, asks for bookmarks and a timeout, and ends when the server does', async () => {
    const seen: string[] = [];
    await watch('events', (e) => seen.push(`${e.type} ${e.object.metadata.resourceVersion}`)).done;
    assert.deepEqual(seen, ['ADDED 11', 'MODIFIED 12', 'BOOKMARK 15', 'DELETED 16']);
    const asked = new URL(server.received.at(-1)!.url, 'http://x');
    assert.equal(asked.pathname, '/api/v1/namespaces/shop/configmaps');
    assert.deepEqual(Object.fromEntries(asked.searchParams), {
      watch: '1',
      allowWatchBookmarks: 'true',
      resourceVersion: '10',
      timeoutSeconds: '1',
      labelSelector: 'events',
    });
  });

  it('rejects with KubeGone on an ERROR event with code 410, and on a 410 answer', async () => {
    const seen: string[] = [];
    const gone = await failure(watch('gone', (e) => seen.push(e.type)).done);
    assert.ok(gone instanceof KubeGone);
    assert.equal(gone.message, 'too old resource version: 10 (12)');
    assert.deepEqual(seen, ['ADDED'], 'events before the error are delivered');
    assert.ok((await failure(watch('refused').done)) instanceof KubeGone);
  });

  it('refuses a line longer than its bound, a line that is not JSON, and an event without metadata', async () => {
    assert.equal(
      (await failure(watch('long').done)).message,
      'watch /api/v1/namespaces/shop/configmaps: an event is longer than 64 KB',
    );
    assert.equal(
      (await failure(watch('garbage').done)).message,
      'watch /api/v1/namespaces/shop/configmaps: an event is not JSON',
    );
    assert.match(
      (await failure(watch('bare').done)).message,
      /an event of type ADDED without an object's metadata\.resourceVersion$/,
    );
  });

  it('cuts a stream that stalls or drips past its timeout and grace, and says so', async () => {
    for (const name of ['stall', 'drip']) {
      const started = Date.now();
      const err = await failure(watch(name).done);
      assert.equal(err.reason, 'Timeout', name);
      assert.equal(
        err.message,
        'watch /api/v1/namespaces/shop/configmaps: the stream outlived its 1 s timeout by 0.5 s',
      );
      assert.ok(Date.now() - started < 20_000, `${name} was cut, not waited for`);
    }
  });

  it('fails when the server resets the connection mid-stream', async () => {
    const err = await failure(watch('reset').done);
    assert.equal(err.status, 0);
    assert.match(
      err.message,
      /^watch \/api\/v1\/namespaces\/shop\/configmaps: the API server's answer was cut short: /,
    );
  });

  it('ends quietly on stop(), and with the error when onEvent throws', async () => {
    const running = watch('forever', () => {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.stop();
    await running.done;
    const boom = new Error('handler failed');
    const thrown = await watch('forever', () => {
      throw boom;
    }).done.then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.equal(thrown, boom);
    const early = watch('forever');
    early.stop(); // before discovery answered: the stream never opens
    await early.done;
  });
});
