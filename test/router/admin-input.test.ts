/**
 * The admin API under input written to hurt it (issue 12, findings 3 and 10): a real
 * `kanari router` process, so an abort shows as a router that stopped answering.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdminServer, type AdminBackend } from '../../src/router/admin.js';
import { request, type Reply } from '../helpers/http.js';
import { billionLaughsTable, DEEP_DOCUMENTS, hugeBlockMap, hugeFlowList } from '../helpers/hostile.js';
import { startRouterProcess, TOKEN, type RouterProcess } from '../helpers/router.js';

const TABLE = { pools: { stable: ['http://127.0.0.1:9'] } };
let router: RouterProcess;

before(async () => {
  router = await startRouterProcess(TABLE);
});
after(() => router.stop());

const auth = { authorization: `Bearer ${TOKEN}` };
const put = (body: string | Buffer, to = router): Promise<Reply> =>
  request(to.adminPort, { method: 'PUT', path: '/table', headers: auth, body });
const json = (r: Reply) =>
  JSON.parse(r.body) as { error: string; issues?: { line: number; col: number; path: string; message: string }[] };

/** The router is alive and still takes a good table. */
async function stillServes(to = router): Promise<void> {
  const health = await request(to.adminPort, { path: '/healthz' }).catch(async (err: Error) => {
    await Promise.race([once(to.child, 'exit'), sleep(2000)]);
    const how = to.child.signalCode ?? `exit code ${to.child.exitCode}`;
    return assert.fail(
      `the router stopped answering (${err.message}; ${how}); its last words:\n${to.output().split('\n').slice(-8).join('\n')}`,
    );
  });
  assert.equal(health.status, 200);
  const ok = await put(JSON.stringify(TABLE), to);
  assert.equal(ok.status, 200, ok.body);
}

describe('admin API: hostile tables', () => {
  it('answers a deeply nested table, sent again and again, with a located 400 and keeps serving', async () => {
    // Its own router: before the fix this one aborts, and the other tests need theirs.
    const own = await startRouterProcess(TABLE);
    try {
      const answers: string[] = [];
      for (const [shape, text] of Object.entries(DEEP_DOCUMENTS)) {
        for (let i = 0; i < 5; i++) {
          const r = await put(text, own).then(
            (reply) => `${reply.status} ${json(reply).issues?.[0]?.message}`,
            (err: Error) => err.message,
          );
          answers.push(`${shape}: ${r}`);
        }
      }
      await stillServes(own);
      for (const a of answers) assert.match(a, /: 400 nests deeper than 64 levels/);
    } finally {
      await own.stop();
    }
  });

  it('answers a table too big to parse quickly with a located 400', async () => {
    for (const text of [hugeFlowList(400_000), hugeBlockMap(25_000)]) {
      const r = await put(text);
      assert.equal(r.status, 400, r.body.slice(0, 500));
      assert.match(json(r).issues![0]!.message, /holds more than 20000 keys and values/);
    }
    await stillServes();
  });

  it('answers the billion laughs and an undefined alias with a located 400', async () => {
    const bomb = await put(billionLaughsTable());
    assert.equal(bomb.status, 400, bomb.body);
    assert.match(json(bomb).issues![0]!.message, /aliases expand .* to more than 20000 values/);
    const undef = await put('pools: { stable: *nowhere }\n');
    assert.equal(undef.status, 400, undef.body);
    assert.deepEqual(json(undef).issues, [
      { line: 1, col: 18, path: 'pools.stable', message: 'alias *nowhere names no anchor defined before it' },
    ]);
    await stillServes();
  });

  it('answers a body over 1 MB with 413, its reason and Connection: close, not a reset', async () => {
    for (const size of [1024 * 1024 + 1, 8 * 1024 * 1024]) {
      const r = await put(Buffer.alloc(size, ' '));
      assert.equal(r.status, 413);
      assert.equal(r.headers.connection, 'close');
      assert.equal(json(r).error, 'routing table larger than 1048576 bytes');
    }
    await stillServes();
  });
});

describe('admin API: internal errors', () => {
  it('answers 500 without a stack or a path, and logs both', async () => {
    const failure = new Error("EACCES: permission denied, open '/var/lib/kanari/svc/router-table.json'");
    const backend: AdminBackend = {
      current: () => ({
        revision: 1,
        table: {
          pools: { stable: ['http://127.0.0.1:9'], canary: [], baseline: [] },
          weights: { canary: 0, baseline: 0 },
          match: [],
          mirror: null,
        },
      }),
      replace: () => Promise.reject(failure),
      stats: () => Promise.reject(failure),
      health: () => Promise.reject(failure),
    };
    const logged: string[] = [];
    const server = createAdminServer(backend, TOKEN);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const consoleError = console.error;
    console.error = (...args: unknown[]) => logged.push(args.join(' '));
    try {
      const r = await request((server.address() as AddressInfo).port, { path: '/stats', headers: auth });
      assert.equal(r.status, 500);
      assert.doesNotMatch(r.body, /\/var\/lib|\bat \S+ \(|EACCES/);
      assert.match(json(r).error, /^internal error \(logged as [0-9a-f]{8}\)$/);
      const id = /logged as ([0-9a-f]{8})/.exec(json(r).error)![1]!;
      assert.ok(
        logged.some(
          (line) =>
            line.includes(id) &&
            line.includes('GET /stats') &&
            line.includes('/var/lib/kanari') &&
            /\n\s+at /.test(line),
        ),
        logged.join('\n'),
      );
    } finally {
      console.error = consoleError;
      server.close();
    }
  });
});
