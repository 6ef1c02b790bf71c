/**
 * The controller API under input written to hurt it (issue 12, findings 3, 10 and 11):
 * a real `kanari up` process, so an abort shows as a controller that stopped answering.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { upstreamRollout } from '../helpers/config.js';
import { listenPort, UpFixture } from '../helpers/controller.js';
import { request, type Reply } from '../helpers/http.js';
import { servedConformance, type Exchange } from '../helpers/openapi-conformance.js';
import { billionLaughs, DEEP_DOCUMENTS } from '../helpers/hostile.js';

/** A `kanari up` of its own, with what a raw request needs: its port and token. */
async function controller(): Promise<{ f: UpFixture; port: number; token: string }> {
  const fixture = new UpFixture();
  await fixture.up();
  const url = (JSON.parse(readFileSync(join(fixture.state, 'controller.json'), 'utf8')) as { url: string }).url;
  return {
    f: fixture,
    port: Number(new URL(url).port),
    token: readFileSync(join(fixture.state, 'api-token'), 'utf8').trim(),
  };
}

let c: Awaited<ReturnType<typeof controller>>;
let conforms: (e: Exchange) => void;
before(async () => {
  c = await controller();
  conforms = await servedConformance(c.port);
});
after(() => c.f.close());

/** An RFC 9457 problem, as the API answers every error. */
interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  issues?: { file: string; line: number; col: number; path: string; message: string }[];
}

/** A request, checked against the OpenAPI document on the way back. */
async function call(method: string, path: string, body?: string | Buffer, to = c): Promise<Reply> {
  const reply = await request(to.port, {
    method,
    path,
    headers: { authorization: `Bearer ${to.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body }),
  });
  conforms({ method, path, body: typeof body === 'string' ? body : undefined, reply });
  return reply;
}
const apply = (file: string, text: string, to = c) => call('POST', '/api/v1/apply', JSON.stringify({ file, text }), to);
const errorOf = (r: Reply) => {
  assert.equal(r.headers['content-type'], 'application/problem+json', r.body);
  const p = JSON.parse(r.body) as Problem;
  return { ...p, message: p.detail };
};

/** The controller is alive and answers its API. */
async function stillServes(to = c): Promise<void> {
  const health = await request(to.port, { path: '/healthz' }).catch((err: Error) =>
    assert.fail(
      `the controller stopped answering (${err.message}); its last words:\n${to.f.log().split('\n').slice(-8).join('\n')}`,
    ),
  );
  assert.equal(health.status, 200);
  assert.equal((await call('GET', '/api/v1/rollouts', undefined, to)).status, 200);
}

describe('controller API: hostile files', () => {
  it('answers a deeply nested file, applied again and again, with a located 400 and keeps serving', async () => {
    // Its own controller: before the fix this one aborts, and the other tests need theirs.
    const own = await controller();
    try {
      const answers: string[] = [];
      for (const [shape, text] of Object.entries(DEEP_DOCUMENTS)) {
        for (let i = 0; i < 5; i++) {
          const r = await apply('/tmp/deep.yaml', text, own).then(
            (reply) => `${reply.status} ${errorOf(reply).issues?.[0]?.message}`,
            (err: Error) => err.message,
          );
          answers.push(`${shape}: ${r}`);
        }
      }
      await stillServes(own);
      for (const a of answers) assert.match(a, /: 400 nests deeper than 64 levels/);
    } finally {
      await own.f.close();
    }
  });

  it('answers the billion laughs with a located 400', async () => {
    const r = await apply('/tmp/bomb.yaml', billionLaughs());
    assert.equal(r.status, 400, r.body);
    assert.match(errorOf(r).issues![0]!.message, /aliases expand .* to more than 20000 values/);
    await stillServes();
  });

  it('answers a body over 4 MB with 413, its reason and Connection: close, not a reset', async () => {
    const r = await call('POST', '/api/v1/apply', Buffer.alloc(4 * 1024 * 1024 + 1, ' '));
    assert.equal(r.status, 413);
    assert.equal(r.headers.connection, 'close');
    assert.equal(errorOf(r).message, 'request body larger than 4194304 bytes');
    await stillServes();
  });

  it('answers a bad percent-encoding in the path with 400 and a reason, never a stack', async () => {
    for (const path of ['/api/v1/rollouts/%E0%A4%A', '/api/v1/rollouts/shop/analyses/%FF', '/api/v1/rollouts/%']) {
      const r = await call('GET', path);
      assert.equal(r.status, 400, `${path}: ${r.body}`);
      assert.match(errorOf(r).message, /^the path is not valid percent-encoded UTF-8 \(/);
      assert.doesNotMatch(r.body, /\bat \S+ [(/]|node:|\.ts\b|\.js\b/);
    }
    await stillServes();
  });
});

describe('lint and apply', () => {
  it('refuse the same files with the same located issues', async () => {
    const listen = await listenPort();
    const files: Record<string, string> = {
      'empty.yaml': '',
      'comments.yaml': '# nothing here yet\n',
      'listen-zero.yaml': upstreamRollout('zero', 0),
      'same-port.yaml': `${upstreamRollout('one', listen)}---\n${upstreamRollout('two', listen)}`,
      'regex.yaml': upstreamRollout('regex', listen, [
        'setHeaderRoute: { match: { header: x-user, regex: "(.*a){20}" } }',
      ]),
      'webhook.yaml': `${upstreamRollout('hook', listen)}  webhooks: [{ name: gate, type: rollout, url: http://127.0.0.1:9/, timeout: 800h }]\n`,
    };
    const paths = Object.keys(files).map((name) => c.f.write(name, files[name]!));
    const lint = runCli(['lint', '--json', ...paths]);
    assert.equal(lint.status, 2, lint.stderr);
    const linted = JSON.parse(lint.stdout) as {
      files: {
        file: string;
        ok: boolean;
        issues?: { file: string; line: number; col: number; path: string; message: string }[];
      }[];
    };
    const line = (i: { file: string; line: number; col: number; path: string; message: string }) =>
      `${i.file}:${i.line}:${i.col} ${i.path}: ${i.message}`;
    for (const [n, path] of paths.entries()) {
      const applied = await apply(path, readFileSync(path, 'utf8'));
      assert.equal(applied.status, 400, `${path}: ${applied.body}`);
      const byApply = (errorOf(applied).issues ?? []).map(line);
      const byLint = (linted.files[n]!.issues ?? []).map(line);
      assert.ok(byLint.length > 0, `lint passed ${path}, which apply refuses: ${errorOf(applied).message}`);
      assert.deepEqual(byApply, byLint, path);
    }
  });
});
