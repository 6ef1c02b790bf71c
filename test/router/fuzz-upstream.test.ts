/**
 * The hostile-upstream fuzzer (issue 12). A raw upstream answers each request with a
 * mutated response, split into delayed writes; the client must get the exact response, a
 * 502, or a connection aborted before the response's framing completes — and an upstream
 * connection left in doubt must never carry another request. KANARI_FUZZ_SEED replays a
 * run, KANARI_FUZZ_CASE=<n> one case, KANARI_FUZZ_UPSTREAM_CASES sets how many run.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { closeRouter, exchange } from '../helpers/fuzz-client.js';
import { fuzzCases, fuzzSeed, showBytes, sleep } from '../helpers/fuzz-random.js';
import { captureCrashes, FuzzReport, inParallel, reasonGroup } from '../helpers/fuzz-report.js';
import { expectedResponse, judgeResponse, responseCase, type ResponseCase } from '../helpers/fuzz-responses.js';
import {
  answerSeen,
  marker,
  markerIn,
  startRawUpstream,
  type RawUpstream,
  type UpstreamConn,
} from '../helpers/fuzz-upstream.js';
import { readResponse } from '../helpers/strict-http.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';

const SEED = fuzzSeed('hostile-upstream fuzzer');
const CASES = Number(process.env.KANARI_FUZZ_UPSTREAM_CASES ?? 1000);
const BUDGET_MS = 25_000;
/** The router closes pooled idle upstream connections after 4 s (src/router/upstream.ts POOL_IDLE_MS). */
const POOL_IDLE_MS = 4000;

const cases = new Map<string, ResponseCase>();
let upstream: RawUpstream;
let router: TestRouter;
let handlesBefore: number;
let crashes: ReturnType<typeof captureCrashes>;
const handles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;

/** Plays a case's response: its pieces a few milliseconds apart, then a close if the case says so. */
async function play(conn: UpstreamConn, c: ResponseCase): Promise<void> {
  for (const [i, piece] of c.pieces.entries()) {
    if (conn.socket.destroyed) return;
    conn.socket.write(piece, 'latin1');
    if (i < c.pieces.length - 1) await sleep(c.gapMs);
  }
  if (c.close) conn.socket.end();
}

before(async () => {
  crashes = captureCrashes();
  upstream = await startRawUpstream({
    answer(request, mark, conn) {
      const c = mark === undefined ? undefined : cases.get(mark);
      if (!c) return answerSeen(request, mark, conn);
      const { doubtful } = expectedResponse(c);
      // The first doubt counts. An early answer goes to the request still arriving; any other to the one just read.
      if (doubtful && !conn.doubtful)
        conn.doubtful = { reason: doubtful, request: c.early ? conn.requests.length : conn.requests.length - 1 };
      void play(conn, c);
    },
    early: (head) => cases.get(markerIn(head) ?? '')?.early === true,
  });
  // The upstream answers at once, so 2 s without response headers already means a stuck connection.
  router = await startTestRouter({ pools: { stable: [upstream.urls[0]!] } }, { timeouts: { upstreamHeaders: '2s' } });
  handlesBefore = handles();
});
after(async () => {
  await closeRouter(router);
  await upstream.close();
  crashes.stop();
});

const request = (c: { method: string }, mark: string) =>
  `${c.method} /${mark}/r HTTP/1.1\r\nHost: app.example\r\nCookie: kanari-svc=fuzz\r\n${c.method === 'POST' ? 'Content-Length: 2000\r\n' : ''}\r\n`;

/** Runs cases, each on its own client connection, and judges what came back. */
async function run(list: readonly ResponseCase[], width: number, report: FuzzReport): Promise<void> {
  const ran = await inParallel(list, width, Date.now() + BUDGET_MS, async (c) => {
    const mark = marker(c.index, 0);
    cases.set(mark, c);
    const body = c.method === 'POST' ? 'b'.repeat(1000) : '';
    const done = (got: string) => (readResponse(got, 0, { method: c.method }).kind === 'message' ? 'done' : 'wait');
    const client = await exchange(router.port, request(c, mark) + body, [], done, {
      timeoutMs: 3000,
      ...(c.method === 'POST' ? { thenSend: body } : {}),
    });
    const { failures, note } = judgeResponse(c, client.received, client.closed, client.timedOut);
    const example = `#${c.index} [${c.mutations.join('; ') || 'clean'}] upstream sent ${showBytes(c.pieces.join(''), 200)}, client got ${showBytes(client.received, 120)}`;
    report.count('cases');
    report.count(expectedResponse(c).response ? 'good responses' : 'bad responses');
    for (const f of failures) report.fail(f, example);
    if (note) report.note(note.replace(/ \(.*/, ''), example);
  });
  if (ran < list.length) report.count(`not run (time budget spent; ${list.length} planned)`);
  await sleep(200);
  for (const crash of crashes.take())
    report.fail(
      `the router threw, uncaught: ${crash}`,
      'the exception names no case; the named cases reproduce the known ones',
    );
  const mine = new Set(list.map((c) => marker(c.index, 0)));
  for (const conn of upstream.connections) {
    const doubt = conn.doubtful;
    const mark = doubt && conn.requests[doubt.request]?.marker;
    if (!doubt || !mark || !mine.has(mark) || conn.reusedAfterDoubt === undefined) continue;
    report.fail(
      `connection reused after ${reasonGroup(doubt.reason)}`,
      `${mark} (KANARI_FUZZ_CASE=${/\d+/.exec(mark)![0]}), then ${showBytes(conn.reusedAfterDoubt, 120)}`,
    );
  }
}

/** A named case: `wire` sent whole by the upstream, which closes after it when `close`. */
const named = (index: number, name: string, wire: string, close = false): ResponseCase => ({
  index,
  method: 'GET',
  early: false,
  pieces: [wire],
  gapMs: 0,
  close,
  mutations: [name],
});

/**
 * Runs named cases one at a time, each followed by a plain one that shows whether its
 * connection was reused; the upstream closes after the plain one, so each case starts afresh.
 */
async function runNamed(list: readonly ResponseCase[]): Promise<FuzzReport> {
  const report = new FuzzReport('named upstream cases');
  const plain = (c: ResponseCase) =>
    named(
      c.index + 50,
      'plain follow-up',
      `HTTP/1.1 200 OK\r\nX-Fuzz-Seen: ${marker(c.index + 50, 0)}\r\nContent-Length: 2\r\n\r\nok`,
      true,
    );
  await run(
    list.flatMap((c) => [c, plain(c)]),
    1,
    report,
  );
  return report;
}

/** GETs `path` and reads the answer slowly (a pause after every read). */
function slowGet(port: number, path: string): Promise<{ status: number; length: number } | string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: app.example\r\nCookie: kanari-svc=fuzz\r\n\r\n`),
    );
    let got = '';
    const timer = setTimeout(
      () => (socket.destroy(), resolve(`no answer in time after ${got.length} bytes: ${showBytes(got, 100)}`)),
      15_000,
    );
    socket.on('error', () => {});
    socket.on('close', () => resolve(`closed after ${got.length} bytes`));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      const r = readResponse(got);
      if (r.kind === 'message') {
        clearTimeout(timer);
        socket.destroy();
        return resolve({ status: r.message.status, length: r.message.body.length });
      }
      socket.pause();
      setTimeout(() => socket.resume(), 2);
    });
  });
}

describe('data-plane fuzz: a hostile upstream', () => {
  it('finding 2: 20 KiB, 64 KiB and 1 MiB responses to a slow reader, several in a row on one pooled connection, all succeed', async () => {
    for (const size of [20 * 1024, 64 * 1024, 1024 * 1024]) {
      const mark = marker(800_000 + size, 0);
      cases.set(mark, named(0, 'big', `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n${'x'.repeat(size)}`));
      const got = [];
      for (let i = 0; i < 6; i++) got.push(await slowGet(router.port, `/${mark}/big`));
      assert.deepEqual(got, Array(6).fill({ status: 200, length: size }), `${size} bytes`);
    }
  });

  it('finding 9: a 101 nobody asked for, a head over 64 KiB in two reads and a bad chunk size become 502 or an abort', async () => {
    const pad = 'p'.repeat(40 * 1024);
    const list = [
      named(
        810_001,
        '101 nobody asked for',
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      ),
      {
        ...named(
          810_002,
          'head over 64 KiB in two reads',
          `HTTP/1.1 200 OK\r\nX-A: ${pad}\r\nX-B: ${pad}\r\nContent-Length: 2\r\n\r\nok`,
        ),
        pieces: [`HTTP/1.1 200 OK\r\nX-A: ${pad}\r\n`, `X-B: ${pad}\r\nContent-Length: 2\r\n\r\nok`],
        gapMs: 20,
      },
      named(810_003, 'bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'),
      named(
        810_004,
        'bad chunk size after a chunk',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n0\r\n\r\n',
      ),
    ];
    const report = await runNamed(list);
    assert.equal(report.failed, 0, report.summary());
  });

  it("a control character in an upstream's reason-phrase becomes a 502, and throws nothing", async () => {
    const report = await runNamed([
      named(810_005, 'control character in the reason-phrase', 'HTTP/1.1 200 a\x01b\r\nContent-Length: 2\r\n\r\nok'),
    ]);
    assert.equal(report.failed, 0, report.summary());
  });

  it('the other groups the fuzzer found, one response each', async () => {
    const ok = (head: string, body = 'hello') => `${head}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const report = await runNamed([
      named(811_000, 'bare LF ending a header value', ok('HTTP/1.1 200 OK\r\nX-A: 1\n')),
      named(811_001, 'status 600', ok('HTTP/1.1 600 Whatever')),
      named(
        811_002,
        'Transfer-Encoding in HTTP/1.0',
        'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      ),
      named(
        811_003,
        'chunked applied twice',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      ),
      named(
        811_004,
        'obs-fold in a trailer',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n',
      ),
      named(
        811_005,
        'HTTP/1.0 with keep-alive and close',
        ok('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close'),
      ),
      named(811_006, "control character in a 204's header", 'HTTP/1.1 204 No Content\r\nX-A: a\x01b\r\n\r\n'),
      named(811_007, 'head over 64 KiB in one write', ok(`HTTP/1.1 200 OK\r\nX-A: ${'p'.repeat(70 * 1024)}`)),
      named(
        811_008,
        'Content-Length and Transfer-Encoding',
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      ),
    ]);
    assert.equal(report.failed, 0, report.summary());
  });

  it(`${CASES} hostile responses: the client gets the exact response, a 502 or an abort, and a doubtful connection is never reused`, async () => {
    const report = new FuzzReport(`hostile-upstream fuzzer, seed ${SEED}`);
    await run(
      fuzzCases(CASES).map((i) => responseCase(SEED, i, marker(i, 0))),
      16,
      report,
    );
    // A failure prints the summary in its message; a pass prints it here.
    if (report.failed === 0) console.log(report.summary());
    assert.equal(report.failed, 0, report.summary());
  });

  it('afterwards the router still serves, and its open handles and upstream connections return to their count', async () => {
    const answer = await exchange(router.port, request({ method: 'GET' }, marker(820_000, 0)), [], (got) =>
      readResponse(got).kind === 'message' ? 'done' : 'wait',
    );
    const r = readResponse(answer.received);
    assert.equal(r.kind === 'message' && r.message.status, 200, showBytes(answer.received, 200));
    // Pooled connections idle out after POOL_IDLE_MS; give them that and a margin.
    for (
      let waited = 0;
      waited < POOL_IDLE_MS + 6000 && (upstream.openCount() > 0 || handles() > handlesBefore);
      waited += 250
    )
      await sleep(250);
    assert.equal(upstream.openCount(), 0, 'upstream connections still open');
    assert.equal(handles(), handlesBefore, 'open handles');
    assert.deepEqual(crashes.take(), [], 'uncaught exceptions');
  });
});
