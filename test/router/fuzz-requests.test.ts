/**
 * The data-plane request fuzzer (issue 12). Mutated requests go through the router to a
 * raw upstream that reads them with a strict RFC 9112 reader; each must be refused before
 * any of its bytes reach the upstream, or arrive there as exactly one request that reads
 * as the client's did. Seeded and bounded: KANARI_FUZZ_SEED replays a run (or `random`
 * explores), KANARI_FUZZ_CASE=<n> replays one case, KANARI_FUZZ_CASES sets how many run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { closeRouter, exchange, type Progress } from '../helpers/fuzz-client.js';
import {
  clientResponses,
  expectationOf,
  indexUpstream,
  judge,
  methodsOf,
  settle,
  type Expectation,
} from '../helpers/fuzz-oracle.js';
import { fuzzCases, fuzzSeed, showBytes } from '../helpers/fuzz-random.js';
import { captureCrashes, FuzzReport, inParallel } from '../helpers/fuzz-report.js';
import { requestCase, type RequestCase } from '../helpers/fuzz-requests.js';
import { answerSeen, marker, startRawUpstream, type Arrived, type RawUpstream } from '../helpers/fuzz-upstream.js';
import { fieldValues } from '../helpers/strict-http.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

const SEED = fuzzSeed('request fuzzer');
const CASES = Number(process.env.KANARI_FUZZ_CASES ?? 3000);
/** No new case starts after this long, so the file stays bounded on a slow machine. */
const BUDGET_MS = 60_000;

let upstream: RawUpstream;
/** The same pools behind the default cookie stickiness and behind `sticky: { header: x-user-id }`. */
let routers: TestRouter[];
let crashes: ReturnType<typeof captureCrashes>;
let closed = false;

before(async () => {
  crashes = captureCrashes();
  upstream = await startRawUpstream({ answer: answerSeen }, 2);
  const table = { pools: { stable: [upstream.urls[0]!], canary: [upstream.urls[1]!] }, weights: { canary: 50 } };
  // A forwarded head whose body never comes is answered 504 after this, not after a minute.
  const spec = { timeouts: { upstreamHeaders: '3s' } };
  routers = [
    await startTestRouter(table, spec),
    await startTestRouter(table, { ...spec, sticky: { header: 'x-user-id' } }),
  ];
});
after(async () => {
  if (!closed) await Promise.all(routers.map((r) => closeRouter(r)));
  await upstream.close();
  crashes.stop();
});

/** When the client has read all it should (or, for an unfinished request, when it gives up). */
function progressFor(exp: Expectation): (received: string) => Progress {
  const methods = methodsOf(exp);
  const want = exp.accepted.length + (exp.refused || (exp.broken && !exp.broken.incomplete) ? 1 : 0);
  return (received) => {
    const n = clientResponses(received, methods, false).length;
    if (exp.broken?.incomplete) return n >= exp.accepted.length ? 'close-soon' : 'wait';
    return n >= want ? 'done' : 'wait';
  };
}

/** Upstream arrivals an earlier run has already accounted for. */
const judged = new WeakSet<Arrived>();

/** Runs cases through the routers, then judges each against what the upstream received. */
async function run(cases: readonly RequestCase[], width: number, report: FuzzReport): Promise<void> {
  const results: { c: RequestCase; exp: Expectation; client: Awaited<ReturnType<typeof exchange>> }[] = [];
  const ran = await inParallel(cases, width, Date.now() + BUDGET_MS, async (c) => {
    const exp = expectationOf(c.wire);
    results.push({ c, exp, client: await exchange(routers[c.index % 2]!.port, c.wire, c.cuts, progressFor(exp)) });
  });
  if (ran < cases.length) report.count(`not run (time budget spent; ${cases.length} planned)`);
  await settle(() => upstream.connections);
  for (const crash of crashes.take())
    report.fail(`the router threw, uncaught: ${crash}`, 'the exception names no case');
  const index = indexUpstream(upstream.connections);
  const known = new Set(
    results.flatMap(({ exp }) => [
      ...exp.accepted.map((a) => a.marker),
      exp.refused?.marker,
      exp.broken?.marker,
      ...exp.ignored,
    ]),
  );
  for (const conn of upstream.connections) {
    for (const r of conn.requests) {
      if (judged.has(r)) continue;
      judged.add(r);
      if (r.marker && known.has(r.marker)) continue;
      report.fail(
        'the upstream ran a request no client sent as a request (smuggled in a body)',
        `${r.marker ?? 'no marker'}: ${showBytes(conn.data.slice(r.start, r.end), 200)}`,
      );
    }
  }
  for (const { c, exp, client } of results) {
    report.count('cases');
    report.count(exp.refused ? 'refused by the oracle' : exp.broken ? 'with a broken body' : 'accepted by the oracle');
    if (client.timedOut) report.count('waited out');
    const example = `#${c.index} [${c.mutations.join('; ') || 'clean'}] ${showBytes(c.wire, 240)}`;
    const { failures, stricter } = judge(exp, client, index);
    if (
      process.env.KANARI_FUZZ_CASE ||
      (process.env.KANARI_FUZZ_DEBUG && failures.some((f) => f.includes(process.env.KANARI_FUZZ_DEBUG!)))
    )
      console.log(replay(c, client.received));
    for (const f of failures) report.fail(f, example);
    for (const s of stricter) report.note(s, example);
  }
}

/** What a replayed case sent and got, and every upstream connection that saw its marker. */
function replay(c: RequestCase, received: string): string {
  const seenBy = upstream.connections.filter((conn) => conn.data.includes(`fz-${c.index}.`));
  return [
    `case ${c.index} sent ${showBytes(c.wire, 2000)}`,
    `client got ${showBytes(received, 2000)}`,
    ...seenBy.map(
      (conn) =>
        `upstream connection ${conn.id}${conn.invalid ? ` (unreadable: ${conn.invalid})` : ''}: ${showBytes(conn.data, 2000)}`,
    ),
  ].join('\n');
}

async function runNamed(named: Record<string, (m: string) => string>, first: number): Promise<FuzzReport> {
  const report = new FuzzReport('named cases');
  const cases = Object.entries(named).map(([name, wire], i) => ({
    index: first + i,
    wire: wire(marker(first + i, 0)),
    cuts: [],
    mutations: [name],
  }));
  await run(cases, 1, report);
  return report;
}

const GET = (m: string, headers: string) => `GET /${m} HTTP/1.1\r\n${headers}X-Fuzz-Case: ${m}\r\n\r\n`;
const filler = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`).join('');

describe('data-plane fuzz: requests', () => {
  it('finding 1: more header lines than the limit are refused with 431, and a Content-Length past line 1,000 smuggles nothing', async () => {
    const report = await runNamed(
      {
        '1,001 lines, Content-Length last': (m) =>
          `POST /${m} HTTP/1.1\r\nHost: app.example\r\n${filler(1000)}Content-Length: 5\r\n\r\nhello`,
        '101 lines': (m) => GET(m, `Host: app.example\r\n${filler(99)}`),
        '100 lines': (m) => GET(m, `Host: app.example\r\n${filler(98)}`),
      },
      900_000,
    );
    assert.equal(report.failed, 0, report.summary());
  });

  it("finding 1: a request whose Content-Length Node does not see cannot swallow the next client's request", async () => {
    // An upstream that answers once a head is in (as servers that ignore a GET's body do) frees the connection for reuse.
    const early = await startRawUpstream({ answer: answerSeen, early: () => true });
    const router = await startTestRouter({ pools: { stable: [early.urls[0]!] } });
    try {
      const smuggled = marker(910_009, 0);
      const inner = `GET /${smuggled} HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n`;
      const victim = (m: string) =>
        `POST /${m} HTTP/1.1\r\nHost: app.example\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`;
      const send = (wire: string) =>
        exchange(router.port, wire, [], (got) => (clientResponses(got, ['GET'], false).length > 0 ? 'done' : 'wait'));
      // The victim's forwarded head has a fixed length (its marker's length never changes): learn it once.
      await send(victim(marker(910_001, 0)));
      const headLength = early.connections.at(-1)!.data.indexOf('\r\n\r\n') + 4;
      const attacker = `GET /${marker(910_002, 0)} HTTP/1.1\r\nHost: app.example\r\n${filler(1000)}Content-Length: ${headLength}\r\n\r\n${'a'.repeat(headLength)}`;
      await send(attacker);
      const answer = await send(victim(marker(910_003, 0)));
      await settle(() => early.connections);
      const ran = early.connections.flatMap((c) => c.requests.map((r) => r.marker));
      assert.ok(!ran.includes(smuggled), `the upstream ran a request smuggled in a body: ${ran.join(' ')}`);
      const res = clientResponses(answer.received, ['POST'], answer.closed)[0];
      assert.equal(
        res && fieldValues(res.fields, 'x-fuzz-seen')[0],
        marker(910_003, 0),
        `the victim got: ${showBytes(answer.received, 200)}`,
      );
    } finally {
      await router.close(100);
      await early.close();
    }
  });

  it('finding 4: a Transfer-Encoding other than chunked is refused before its head reaches the upstream', async () => {
    const post =
      (te: string, body = '5\r\nhello\r\n0\r\n\r\n') =>
      (m: string) =>
        `POST /${m} HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: ${te}\r\n\r\n${body}`;
    const report = await runNamed(
      {
        xchunked: post('xchunked'),
        identity: post('identity', 'hello'),
        gzip: post('gzip', ''),
        'gzip, chunked': post('gzip, chunked'),
        'chunked twice': post('chunked, chunked'),
      },
      920_000,
    );
    assert.equal(report.failed, 0, report.summary());
  });

  it('finding 5: duplicate or invalid Host is refused, and an absolute-form target is forwarded in origin-form with its authority as Host', async () => {
    const report = await runNamed(
      {
        'two Hosts': (m) => GET(m, 'Host: app.example\r\nHost: evil.example\r\n'),
        'Host with a space': (m) => GET(m, 'Host: app.example evil.example\r\n'),
        'Host with a path': (m) => GET(m, 'Host: app.example/evil\r\n'),
        'Host with userinfo': (m) => GET(m, 'Host: user@app.example\r\n'),
        'absolute-form': (m) =>
          `GET http://origin.example:8080/${m}?q=1 HTTP/1.1\r\nHost: app.example\r\nX-Fuzz-Case: ${m}\r\n\r\n`,
        'absolute-form, ftp': (m) =>
          `GET ftp://origin.example/${m} HTTP/1.1\r\nHost: app.example\r\nX-Fuzz-Case: ${m}\r\n\r\n`,
      },
      930_000,
    );
    assert.equal(report.failed, 0, report.summary());
  });

  it('the other groups the fuzzer found, one request each', async () => {
    const post = (m: string, headers: string, body: string) =>
      `POST /${m} HTTP/1.1\r\nHost: app.example\r\n${headers}Content-Length: ${body.length}\r\n\r\n${body}`;
    const report = await runNamed(
      {
        // Content-Length is dropped as if hop-by-hop, the body is sent anyway and runs as a request.
        'Connection: content-length': (m) =>
          post(
            m,
            'Connection: content-length\r\n',
            `GET /${marker(940_100, 0)} HTTP/1.1\r\nHost: evil.example\r\n\r\n`,
          ),
        'Connection: host': (m) => GET(m, 'Host: app.example\r\nConnection: host\r\n'),
        'HTTP/0.9 request-line': (m) => `GET /${m}\r\nHost: app.example\r\n\r\n`,
        'HTTP/2.0': (m) => `GET /${m} HTTP/2.0\r\nHost: app.example\r\n\r\n`,
        'Transfer-Encoding in HTTP/1.0': (m) =>
          `POST /${m} HTTP/1.0\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        'Upgrade with a body': (m) => post(m, 'Connection: Upgrade\r\nUpgrade: websocket\r\n', 'hello'),
        'Upgrade without Host': (m) => `GET /${m} HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        'GET *': (m) => `GET * HTTP/1.1\r\nHost: app.example\r\nX-Fuzz-Case: ${m}\r\n\r\n`,
        CONNECT: (m) => `CONNECT app.example:443 HTTP/1.1\r\nHost: app.example:443\r\nX-Fuzz-Case: ${m}\r\n\r\n`,
        'pipelined after a request without Host': (m) => `GET / HTTP/1.1\r\n\r\n${GET(m, 'Host: app.example\r\n')}`,
        'pipelined garbage after a good request': (m) => `${post(m, '', 'hello')}garbage\r\n\r\n`,
        // Behind an earlier request: a refusal must not need the response's socket, and nothing after one is forwarded.
        'a request without Host pipelined after a good one': (m) =>
          `${GET(m, 'Host: app.example\r\n')}GET / HTTP/1.1\r\n\r\n`,
        'an Upgrade pipelined after a refused request': (m) =>
          `${GET(m, 'Host: app.example\r\nHost: evil.example\r\n')}GET /${marker(940_112, 0)} HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        'an Upgrade with a body pipelined after a 431': (m) =>
          `${GET(m, `Host: app.example\r\n${filler(101)}`)}PATCH /${marker(940_113, 0)} HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 1\r\n\r\nx`,
      },
      940_000,
    );
    assert.equal(report.failed, 0, report.summary());
  });

  it(`${CASES} mutated requests: each refused before reaching the upstream, or forwarded as exactly one request that reads the same`, async () => {
    const report = new FuzzReport(`request fuzzer, seed ${SEED}`);
    await run(
      fuzzCases(CASES).map((i) => requestCase(SEED, i)),
      8,
      report,
    );
    // A failure prints the summary in its message; a pass prints it here.
    if (report.failed === 0) console.log(report.summary());
    assert.equal(report.failed, 0, report.summary());
  });

  it('afterwards the routers close promptly, leaving no client connection open', async () => {
    closed = true;
    assert.deepEqual((await Promise.all(routers.map((r) => closeRouter(r)))).flat(), []);
  });
});
