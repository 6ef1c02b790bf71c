import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { request, startUpstream, type TestUpstream } from '../helpers/http.js';
import { byVersion, keepLoading, sendMany } from '../helpers/load.js';
import { spawnApp } from '../helpers/process.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function upstream(name: string): Promise<TestUpstream> {
  const up = await startUpstream(name);
  cleanup.push(() => up.close());
  return up;
}

async function router(...args: Parameters<typeof startTestRouter>): Promise<TestRouter> {
  const r = await startTestRouter(...args);
  cleanup.push(() => r.close());
  return r;
}

/** A raw TCP upstream that misbehaves through `onSocket`; closing it drops its sockets too. */
async function rawUpstream(onSocket: (s: net.Socket) => void): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  cleanup.push(
    () =>
      new Promise((res) => {
        for (const s of sockets) s.destroy();
        server.close(res);
      }),
  );
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** A port with nothing listening on it (bound, then released). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('failover', () => {
  it("serves a killed canary's share from stable with zero client errors for GETs", async () => {
    const stable = await upstream('stable');
    const canary = await spawnApp('canary');
    cleanup.push(() => canary.kill());
    const r = await router(
      { pools: { stable: [stable.url], canary: [canary.url] }, weights: { canary: 50 } },
      { passive: { failures: 1, ejectFor: '30s' } },
    );
    const load = keepLoading(r.port, 16);
    await new Promise((res) => setTimeout(res, 500));
    await canary.kill('SIGKILL');
    const killedAt = load.replies.length;
    await new Promise((res) => setTimeout(res, 1000));
    await load.stop();

    assert.deepEqual(
      load.errors.map((e) => e.message),
      [],
    );
    const failed = load.replies.filter((x) => x.status !== 200);
    assert.deepEqual(
      failed.map((x) => `${x.status} ${x.body}`),
      [],
    );
    const beforeKill = byVersion(load.replies.slice(0, killedAt));
    assert.ok((beforeKill.canary ?? 0) > 0, `canary served before the kill: ${JSON.stringify(beforeKill)}`);
    const afterKill = byVersion(load.replies.slice(killedAt + 64));
    assert.deepEqual(Object.keys(afterKill), ['stable'], JSON.stringify(afterKill));

    const { json } = await r.admin('GET', '/stats');
    assert.equal(json.available.canary, false, 'the stats say the canary is unavailable');
    assert.ok(json.versions.canary.fallbacks > 0);
    const canaryErrors = json.versions.canary.upstreamErrors;
    assert.ok(canaryErrors.connect + canaryErrors.reset > 0, JSON.stringify(canaryErrors));
    const metrics = (await r.admin('GET', '/metrics')).json as string;
    assert.match(metrics, /kanari_router_version_available\{service="svc",version="canary"\} 0/);
  });

  it('retries a POST that never reached an upstream on another endpoint, then stable', async () => {
    const stable = await upstream('stable');
    const [dead1, dead2] = [await deadPort(), await deadPort()];
    const r = await router(
      {
        pools: { stable: [stable.url], canary: [`http://127.0.0.1:${dead1}`, `http://127.0.0.1:${dead2}`] },
        weights: { canary: 100 },
      },
      { passive: { failures: 100, ejectFor: '1s' } },
    );
    const reply = await request(r.port, { method: 'POST', path: '/echo', body: 'order-1' });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-app-version'], 'stable');
    assert.equal(JSON.parse(reply.body).body, 'order-1');
    const { json } = await r.admin('GET', '/stats');
    assert.equal(json.retries, 2, 'once on the other canary endpoint, then on stable');
    assert.equal(json.versions.canary.upstreamErrors.connect, 2);
  });

  it('never replays a POST that reached an upstream; answers 502 with the reason', async () => {
    // An upstream that accepts, reads the request and drops the connection without answering.
    const rude = await rawUpstream((s) => s.once('data', () => s.destroy()));
    const stable = await upstream('stable');
    const r = await router({ pools: { stable: [stable.url], canary: [rude] }, weights: { canary: 100 } });
    const before = stable.received;
    const post = await request(r.port, { method: 'POST', path: '/echo', body: 'pay-once' });
    assert.equal(post.status, 502);
    assert.match(post.body, /^kanari: upstream canary closed the connection mid-request/);
    assert.equal(stable.received, before, 'the POST was not sent again');
    const get = await request(r.port, { path: '/echo' });
    assert.equal(get.status, 200, 'a GET is retried on stable');
    assert.equal(get.headers['x-app-version'], 'stable');
  });

  it('never replays a GET whose body reached an upstream: the replay would carry its head alone', async () => {
    // A GET with a body is no more replayable than a POST: the body is read once, so a
    // replay announces a Content-Length it never sends (an upstream then waits for it, or
    // reads the next request as that body). With GET counted replayable whatever its body,
    // the replay went to stable and timed out there (504).
    const rude = await rawUpstream((s) => s.once('data', () => s.destroy()));
    const stable = await upstream('stable');
    const r = await router(
      { pools: { stable: [stable.url], canary: [rude] }, weights: { canary: 100 } },
      { timeouts: { upstreamHeaders: '2s' } },
    );
    const before = stable.received;
    // Node's client frames a GET's body only when told its length.
    const get = await request(r.port, {
      method: 'GET',
      path: '/echo',
      headers: { 'content-length': '12' },
      body: 'search-terms',
    });
    assert.equal(get.status, 502);
    assert.match(get.body, /^kanari: upstream canary closed the connection mid-request/);
    assert.equal(stable.received, before, 'the GET was not sent again');
  });

  it('answers 502 for a malformed upstream response and never passes it on', async () => {
    const smuggler = await rawUpstream((s) =>
      s.once('data', () =>
        s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
      ),
    );
    const r = await router({ pools: { stable: [smuggler] } });
    const reply = await request(r.port, { method: 'POST', body: 'x' });
    assert.equal(reply.status, 502);
    assert.match(reply.body, /upstream stable sent a malformed response/);
    assert.equal((await r.admin('GET', '/stats')).json.versions.stable.upstreamErrors.protocol, 1);
  });

  it('answers 502 for a response header Node refuses to send, and keeps serving', async () => {
    const bad = await rawUpstream((s) =>
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 0\r\n\r\n')),
    );
    const stable = await upstream('stable');
    const r = await router({ pools: { stable: [stable.url], canary: [bad] }, weights: { canary: 100 } });
    const reply = await request(r.port, { method: 'POST', body: 'x' });
    assert.equal(reply.status, 502);
    assert.match(reply.body, /upstream canary sent a malformed response/);
    await r.setTable({ pools: { stable: [stable.url], canary: [bad] } });
    assert.equal((await request(r.port)).status, 200, 'the router is still serving');
  });

  it('reuses upstream connections across requests', async () => {
    let connections = 0;
    const up = await upstream('stable');
    const counting = await rawUpstream((s) => {
      connections++;
      const proxy = net.connect(up.port, '127.0.0.1');
      s.pipe(proxy).pipe(s);
      s.on('close', () => proxy.destroy());
      proxy.on('close', () => s.destroy());
    });
    const r = await router({ pools: { stable: [counting] } });
    await sendMany(r.port, 200, 4);
    assert.ok(connections <= 4, `${connections} upstream connections for 200 requests at concurrency 4`);
  });

  it('gives up on an endpoint that does not accept in time and retries on stable', async () => {
    // A listener that never accepts, with its backlog filled: the kernel drops further SYNs.
    const child = spawn(
      'python3',
      [
        '-c',
        'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanup.push(async () => child.kill('SIGKILL'));
    const port = Number(
      await new Promise<string>((res) => child.stdout!.once('data', (d: Buffer) => res(d.toString().trim()))),
    );
    const fillers = Array.from({ length: 4 }, () => net.connect(port, '127.0.0.1').on('error', () => {}));
    cleanup.push(async () => fillers.forEach((f) => f.destroy()));
    await new Promise((res) => setTimeout(res, 200));
    const stable = await upstream('stable');
    const r = await router(
      { pools: { stable: [stable.url], canary: [`http://127.0.0.1:${port}`] }, weights: { canary: 100 } },
      { timeouts: { connect: '300ms' } },
    );
    const started = Date.now();
    const reply = await request(r.port, { method: 'POST', path: '/echo', body: 'once' });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-app-version'], 'stable');
    assert.ok(Date.now() - started >= 250, 'it waited for the connect timeout');
    assert.equal((await r.admin('GET', '/stats')).json.versions.canary.upstreamErrors.connectTimeout, 1);
  });

  it('answers 502 to an upgrade its upstream accepts and never answers, once the connect timeout is spent', async () => {
    const silent = await rawUpstream(() => {});
    const r = await router({ pools: { stable: [silent] } }, { timeouts: { connect: '300ms' } });
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(r.port, '127.0.0.1', () =>
        s.write('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
      );
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => resolve(got));
      // A tunnel that never gives up fails the test on what was read, not by hanging it.
      setTimeout(() => s.destroy(), 10_000).unref();
    });
    assert.match(answer, /^HTTP\/1\.1 502 /, JSON.stringify(answer));
    assert.match(answer, /kanari: upstream stable refused or dropped the connection/);
  });

  it('drops a response whose upstream goes idle mid-body', async () => {
    const stalling = await rawUpstream((s) =>
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial')),
    );
    const r = await router({ pools: { stable: [stalling] } }, { timeouts: { idle: '300ms' } });
    await assert.rejects(request(r.port), /aborted|socket hang up|ECONNRESET/);
    assert.equal((await r.admin('GET', '/stats')).json.versions.stable.upstreamErrors.idleTimeout, 1);
  });

  it('answers 504 when an upstream does not send headers in time', async () => {
    const silent = await rawUpstream(() => {});
    const r = await router({ pools: { stable: [silent] } }, { timeouts: { upstreamHeaders: '300ms' } });
    const reply = await request(r.port, { method: 'POST', body: 'x' });
    assert.equal(reply.status, 504);
    assert.match(reply.body, /did not send response headers in time/);
  });

  it('takes endpoints failing active health checks out, and puts them back', async () => {
    const stable = await upstream('stable');
    const flaky = await spawnApp('canary');
    cleanup.push(() => flaky.kill());
    const r = await router(
      { pools: { stable: [stable.url], canary: [flaky.url] }, weights: { canary: 100 } },
      { health: { interval: '100ms', timeout: '200ms', unhealthyAfter: 1 } },
    );
    assert.equal((await request(r.port)).headers['x-app-version'], 'canary');
    await flaky.kill('SIGKILL');
    let health: any;
    for (let i = 0; i < 40; i++) {
      health = (await r.admin('GET', '/health')).json;
      if (!health.canary[0].healthy) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(health.canary[0].healthy, false);
    const after = byVersion(await sendMany(r.port, 50, 4));
    assert.deepEqual(after, { stable: 50 });

    const back = await spawnApp('canary', ['--port', String(flaky.port)]);
    cleanup.push(() => back.kill());
    for (let i = 0; i < 40; i++) {
      health = (await r.admin('GET', '/health')).json;
      if (health.canary[0].healthy) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(health.canary[0].healthy, true);
    assert.deepEqual(byVersion(await sendMany(r.port, 20, 4)), { canary: 20 });
  });

  it('applies 100 routing changes under load with no error that did not come from an upstream', async () => {
    const [stable, canary, baseline] = await Promise.all([
      upstream('stable'),
      upstream('canary'),
      upstream('baseline'),
    ]);
    const other = await upstream('canary-b');
    const r = await router({ pools: { stable: [stable.url], canary: [canary.url], baseline: [baseline.url] } });
    const load = keepLoading(r.port, 16, (i) => ({ headers: { cookie: `kanari-svc=user-${i % 500}` } }));
    for (let i = 0; i < 100; i++) {
      const w = (i * 7) % 50;
      await r.setTable({
        pools: {
          stable: [stable.url],
          canary: i % 3 === 0 ? [canary.url, other.url] : [canary.url],
          baseline: [baseline.url],
        },
        weights: { canary: w, baseline: (i * 3) % 40 },
        match: i % 2 ? [{ header: { name: 'x-canary', exact: String(i) }, version: 'canary' }] : [],
        mirror: i % 5 === 0 ? { version: 'baseline', percent: 10 } : null,
      });
      await new Promise((res) => setTimeout(res, 10));
    }
    await load.stop();
    assert.deepEqual(
      load.errors.map((e) => e.message),
      [],
    );
    assert.ok(load.replies.length > 500, `only ${load.replies.length} requests under load`);
    const bad = load.replies.filter((x) => x.status !== 200);
    assert.deepEqual(
      bad.map((x) => x.status),
      [],
    );
    const { json } = await r.admin('GET', '/table');
    assert.equal(json.revision, 101);
  });
});
