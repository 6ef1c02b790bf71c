import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/api.js';
import { fixedCredential } from '../../src/kube/credentials.js';
import { kubeClient } from '../../src/kube/http-client.js';
import { watchKind } from '../../src/kube/informer.js';
import { sendJson, sendStatus, startScriptedServer } from '../helpers/kube/scripted-server.js';

const DISCOVERY = { kind: 'APIResourceList', resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }] };
const item = (name: string, rv: string) => ({ metadata: { name, namespace: 'shop', resourceVersion: rv } });
const line = (type: string, name: string, rv: string) =>
  `${JSON.stringify({ type, object: { apiVersion: 'v1', kind: 'ConfigMap', ...item(name, rv) } })}\n`;
const gone = `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`;

describe('watchKind', () => {
  it('lists, watches from the list, resumes from the last event or bookmark, lists again on 410, and retries failures', async () => {
    const lists = [
      { resourceVersion: '10', items: [item('a', '9')] },
      { resourceVersion: '30', items: [item('a', '9'), item('b', '25')] },
    ];
    // Each watch, in turn: what it streams, and whether the stream then ends (else it stays open).
    const watches: { body: string; end: boolean; status?: number }[] = [
      { body: line('ADDED', 'b', '11') + line('BOOKMARK', '', '15'), end: true },
      { body: '', end: true, status: 500 },
      { body: line('MODIFIED', 'b', '16') + gone, end: true },
      { body: line('DELETED', 'a', '31'), end: false },
    ];
    const asked: string[] = [];
    const server = await startScriptedServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/api/v1') return sendJson(res, 200, DISCOVERY);
      if (url.searchParams.get('watch') !== '1') {
        asked.push(`list ${url.searchParams.get('labelSelector')}`);
        const list = lists.shift()!;
        return sendJson(res, 200, {
          kind: 'ConfigMapList',
          metadata: { resourceVersion: list.resourceVersion },
          items: list.items,
        });
      }
      asked.push(`watch from ${url.searchParams.get('resourceVersion')}`);
      const next = watches.shift();
      if (!next) return; // stays silent until stopped
      if (next.status) return sendStatus(res, next.status, 'InternalError', 'etcd is busy');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (next.end) res.end(next.body);
      else res.write(next.body);
    });
    const client = kubeClient({
      server: server.url,
      namespace: 'shop',
      tls: { insecure: false },
      credentials: fixedCredential({}),
      origin: 'test',
    });
    const calls: string[] = [];
    const names = (objects: KubeObject[]) => objects.map((o) => o.metadata.name).join(',');
    const informer = watchKind(
      client,
      'v1',
      'ConfigMap',
      'shop',
      {
        synced: (objects) => calls.push(`synced ${names(objects)} (${objects[0]?.kind})`),
        changed: (e) => calls.push(`${e.type} ${e.object.metadata.name}`),
        failed: (err) => calls.push(`failed: ${(err as Error).message}`),
      },
      { labelSelector: 'app=web', retryMs: 50 },
    );
    try {
      const deadline = Date.now() + 20_000;
      while (!calls.includes('DELETED a') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await informer.stop();
      client.close();
      await server.close();
    }
    assert.deepEqual(calls, [
      'synced a (ConfigMap)',
      'ADDED b',
      'failed: etcd is busy',
      'MODIFIED b',
      'synced a,b (ConfigMap)',
      'DELETED a',
    ]);
    assert.deepEqual(asked, [
      'list app=web',
      'watch from 10',
      'watch from 15', // the bookmark's version: refused with a 500, retried after a pause
      'watch from 15',
      'list app=web', // 410: listed again
      'watch from 30',
    ]);
  });
});
