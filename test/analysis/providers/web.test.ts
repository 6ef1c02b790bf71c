import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { webQuery } from '../../../src/config/schemas/analysis.js';
import { parseJsonPath, selectPath } from '../../../src/config/json-path.js';
import { WebProvider } from '../../../src/analysis/providers/web.js';

describe('JSON path selector', () => {
  it("walks fields, indexes and quoted keys, with or without Argo's braces", () => {
    const doc = { data: { items: [{ value: 0.97 }], 'odd key': 3 } };
    assert.equal(selectPath(doc, parseJsonPath('$.data.items[0].value')), 0.97);
    assert.equal(selectPath(doc, parseJsonPath('{$.data.items[0].value}')), 0.97);
    assert.equal(selectPath(doc, parseJsonPath("$.data['odd key']")), 3);
    assert.equal(selectPath(doc, parseJsonPath('$.data.items[3].value')), undefined);
    assert.equal(selectPath(doc, parseJsonPath('$.data.constructor')), undefined, 'prototype names are not fields');
  });

  it('points at the column of a mistake', () => {
    assert.throws(() => parseJsonPath('data.x'), /starts with \$/);
    assert.throws(() => parseJsonPath('$.data..x'), /expected a field name after "." at column 7/);
    assert.throws(() => parseJsonPath('$.items[x]'), /expected \[index\]/);
  });
});

describe('web provider', () => {
  let server: http.Server;
  let base = '';
  const seen: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/hang') return;
      if (url.pathname === '/broken') return void res.writeHead(502).end('bad gateway');
      if (url.pathname === '/html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ version: url.searchParams.get('v'), rate: 0.995, nothing: null }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const provider = new WebProvider();
  const run = (fields: Record<string, unknown>) =>
    provider.query({ web: webQuery.parse(fields) }, { start: 0, end: 60_000 }, { service: 'checkout' });

  it('fills the URL template and picks the field', async () => {
    assert.deepEqual(await run({ url: `${base}/m?v={{target}}&w={{window}}`, jsonPath: '$.rate' }), {
      kind: 'value',
      value: 0.995,
    });
    assert.equal(seen.at(-1), 'GET /m?v=checkout-canary&w=60s');
    assert.deepEqual(await run({ url: `${base}/m?v={{version}}`, version: 'stable', jsonPath: '$.version' }), {
      kind: 'value',
      value: 'stable',
    });
  });

  it('keeps empty, error and timeout apart', async () => {
    assert.deepEqual(await run({ url: `${base}/m`, jsonPath: '$.missing' }), {
      kind: 'empty',
      message: '$.missing is missing in the answer',
    });
    assert.deepEqual(await run({ url: `${base}/m`, jsonPath: '$.nothing' }), {
      kind: 'empty',
      message: '$.nothing is null in the answer',
    });
    const broken = await run({ url: `${base}/broken`, jsonPath: '$.rate' });
    assert.equal(broken.kind, 'error');
    assert.match((broken as { message: string }).message, /answered 502/);
    assert.equal((await run({ url: `${base}/html`, jsonPath: '$.rate' })).kind, 'error');
    const hung = await run({ url: `${base}/hang`, jsonPath: '$.rate', timeout: '200ms' });
    assert.deepEqual(hung, { kind: 'timeout', message: `${base}/hang did not answer within 200 ms` });
  });

  it('rejects unknown template variables and bad paths when the file is loaded', () => {
    assert.throws(
      () => webQuery.parse({ url: `${base}/m?v={{verison}}`, jsonPath: '$.rate' }),
      /unknown variable \{\{verison\}\}/,
    );
    assert.throws(() => webQuery.parse({ url: `${base}/m`, jsonPath: 'rate' }), /starts with \$/);
    assert.throws(
      () => webQuery.parse({ url: `${base}/m`, method: 'POST', body: '{"v":"{{verison}}"}', jsonPath: '$.rate' }),
      /unknown variable \{\{verison\}\}/,
    );
  });
});
