/**
 * A Rollout's event log and history as every replica of `kanari operator --api` serves
 * them: read from the ConfigMap the leader writes beside the Rollout
 * (src/store/kubernetes-log.ts), each read kept `cacheMs` (2 s) and shared by every request
 * and stream about that Rollout. The routes answer as standalone's do:
 *
 * - `history`: the events a person cares about, as `GET /api/v1/rollouts/:name/history`;
 * - `series`: the buckets merged into a chart's (series.ts), with the step boundaries;
 * - `events`: Server-Sent Events of the log after a cursor (Last-Event-ID, `?after=N|now`),
 *   then live as the ConfigMap changes (read every `pollMs`). Ids are the log's own, which go
 *   on across leaders, so a client resumes on any replica with no gap and no duplicate. A
 *   cursor before events dropped to keep the object small gets `event: overflow` saying so
 *   (and the stream goes on with what is kept); a cursor past the newest id (the log was
 *   started afresh, edited) gets `event: reset` and the stream starts from the beginning.
 *
 * The API server unreachable: 503 with the reason (before a stream starts; a stream waits
 * and reads again). The Rollout deleted: 404, and a stream of it ends.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KubeError, type KubeClient } from '../kube/api.js';
import { HttpError, LINGER_MS } from '../shared/http.js';
import { rolloutLogRoutes } from './api-core.js';
import { resumeAfter } from './events.js';
import { logName, readLog, type LogDocument, type LogEvent } from '../store/kubernetes-log-document.js';
import type { Route } from './routes.js';
import { HISTORY_TYPES, MARK_TYPES, MAX_MARKS, seriesAnswer } from './series.js';
import type { Principal } from './tokens.js';

export interface ClusterLogsOptions {
  client: KubeClient;
  /** A rollout's NAMESPACE/NAME or NAME, as the API names it, located (400 or 404 for one it does not run). */
  locate(ref: string): { namespace: string; name: string };
  cacheMs?: number;
  pollMs?: number;
  heartbeatMs?: number;
  stallMs?: number;
  maxClients?: number;
  /**
   * Whether the caller still may (its token not revoked or expired elsewhere, its RBAC not
   * taken away) is asked every `recheckMs` of a stream: 5 s unless said.
   */
  recheckMs?: number;
  log?: (line: string) => void;
}

export interface RolloutLog {
  namespace: string;
  name: string;
  log: LogDocument;
  /** When the read of it began (Date.now()): it holds every event written before then. */
  at: number;
}

/**
 * How often a stream asks whether its caller still may read it. Each ask is answered from
 * the caches in front of the API server (the tokens' and sessions' Secrets, read again once
 * 5 s old; a Kubernetes token's reviews, kept 10 s), so however many streams there are it
 * costs the API server no more than requests do; a caller's end on another replica, or in
 * RBAC, ends its streams within this plus those caches' age.
 */
export const RECHECK_MS = 5000;

/** Rows a stream writes at a time: past the socket's high-water mark by at most this many. */
const PAGE = 200;

export class ClusterLogs {
  private readonly cache = new Map<string, { at: number; read: Promise<RolloutLog> }>();
  private readonly said = new Set<string>();
  private clients = 0;

  constructor(private readonly o: ClusterLogsOptions) {}

  /**
   * The log of a Rollout, read at most `cacheMs` ago. A failed read is kept as long as one
   * that succeeded: every stream of a Rollout polls, and while the API server fails (or the
   * Rollout is gone) they must not each ask it again every second.
   */
  read(ref: string, fresh = false): Promise<RolloutLog> {
    const { namespace, name } = this.o.locate(ref);
    const key = `${namespace}/${name}`;
    const ms = this.o.cacheMs ?? 2000;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && !fresh && now - hit.at < ms) return hit.read;
    const read = this.fetch(namespace, name, now);
    read.catch(() => {});
    this.cache.set(key, { at: now, read });
    // A read older than `cacheMs` is never answered from again: not kept (a log is up to 600 KiB, a cluster has many).
    for (const [k, v] of this.cache) if (now - v.at >= ms) this.cache.delete(k);
    return read;
  }

  private async fetch(namespace: string, name: string, at: number): Promise<RolloutLog> {
    try {
      const found = await this.o.client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: logName(name) });
      if (!found) {
        const rollout = await this.o.client.get({
          apiVersion: 'kanari.dev/v1alpha1',
          kind: 'Rollout',
          namespace,
          name,
        });
        if (!rollout) throw new HttpError(404, `no Rollout ${name} in namespace ${namespace}`);
        return { namespace, name, log: readLog(undefined).log, at };
      }
      const { log, problem } = readLog((found as { data?: unknown }).data);
      const what = `ConfigMap ${namespace}/${logName(name)}: ${problem}`;
      if (problem && !this.said.has(what)) {
        this.said.add(what);
        if (this.said.size > 100) this.said.clear();
        this.o.log?.(`${what}; served without them`);
      }
      return { namespace, name, log, at };
    } catch (err) {
      if (err instanceof KubeError) throw new HttpError(503, `the Kubernetes API server: ${err.message}`);
      throw err;
    }
  }

  /**
   * Serves one stream of a Rollout's log until the client goes, the caller's token ends, or
   * the server closes. Its place among `maxClients` is taken before anything is read, so a
   * request past them costs the API server nothing; and a cursor past the log's end forces
   * no read of its own (below): whatever clients send, the API server is read at most once
   * per Rollout per `cacheMs`.
   */
  async serve(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    ref: string,
    stillValid: () => Promise<boolean>,
  ): Promise<void> {
    const arrived = Date.now();
    const max = this.o.maxClients ?? 64;
    if (this.clients >= max)
      throw new HttpError(
        503,
        `too many event stream clients (at most ${max}); try again later`,
        {},
        { 'retry-after': '5' },
      );
    this.clients++;
    try {
      await this.stream(req, res, query, ref, stillValid, arrived);
    } finally {
      this.clients--;
    }
  }

  private async stream(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    ref: string,
    stillValid: () => Promise<boolean>,
    arrived: number,
  ): Promise<void> {
    // Listened for before the reads below wait on the API server: a client that leaves meanwhile must not leave a stream behind.
    let stop = false;
    const done = new Promise<void>((resolve) => res.once('close', resolve));
    void done.then(() => (stop = true));
    const first = await this.read(ref);
    let cursor = resumeAfter(req, query, () => first.log.lastId);
    if (stop) return;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    req.socket.setNoDelay(true);
    let overflowSaid = 0;
    let blockedSince: number | undefined;
    let lastBeat = Date.now();
    let lastCheck = Date.now();
    const feed = (read: RolloutLog): void => {
      const log = read.log;
      if (cursor > log.lastId) {
        // A cursor from a replica that read later than this one: only a read begun after the client came can say
        // the log was started afresh. The cache makes one within `cacheMs`, whoever asks; until then, nothing is sent.
        if (read.at < arrived) return;
        res.write(
          `event: reset\ndata: ${JSON.stringify({ after: cursor, lastId: log.lastId, reason: 'the log was started afresh: its events are sent again from the first' })}\n\n`,
        );
        cursor = 0;
      }
      if (log.droppedThrough > cursor && overflowSaid < log.droppedThrough) {
        overflowSaid = log.droppedThrough;
        res.write(
          `event: overflow\ndata: ${JSON.stringify({ after: cursor, droppedThrough: log.droppedThrough, reason: 'events after this id are no longer kept (the log keeps the newest, and every deploy and result)' })}\n\n`,
        );
      }
      const rows = log.events.filter((e) => e.id > cursor);
      for (let i = 0; i < rows.length; i += PAGE) {
        let text = '';
        for (const e of rows.slice(i, i + PAGE))
          text += `id: ${e.id}\ndata: ${JSON.stringify(eventRow(e, first.name))}\n\n`;
        cursor = rows[Math.min(i + PAGE, rows.length) - 1]!.id;
        if (!res.write(text)) return;
      }
    };
    feed(first);
    while (!stop) {
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, this.o.pollMs ?? 1000).unref())]);
      if (stop) break;
      const now = Date.now();
      if (now - lastCheck >= (this.o.recheckMs ?? RECHECK_MS)) {
        lastCheck = now;
        if (!(await stillValid())) break;
      }
      if (res.writableNeedDrain) {
        blockedSince ??= now;
        if (now - blockedSince < (this.o.stallMs ?? 30_000)) continue;
        res.end(
          `event: overflow\ndata: ${JSON.stringify({ after: cursor, reason: 'the client read too slowly' })}\n\n`,
        );
        setTimeout(() => res.destroy(), LINGER_MS).unref();
        return;
      }
      blockedSince = undefined;
      let gone = false;
      // The Rollout deleted: its stream ends (a client that reconnects is told 404). The API server failing: it waits.
      const read = await this.read(ref).catch(
        (err: unknown) => void (gone = err instanceof HttpError && err.status === 404),
      );
      if (gone) break;
      const before = cursor;
      if (read) feed(read);
      if (cursor === before && now - lastBeat >= (this.o.heartbeatMs ?? 15_000)) res.write(': heartbeat\n\n');
      if (cursor !== before || now - lastBeat >= (this.o.heartbeatMs ?? 15_000)) lastBeat = now;
    }
    res.end();
  }
}

/** A log row as the API's event rows are (`rollout` is the Rollout's name). */
function eventRow(e: LogEvent, rollout: string) {
  return { id: e.id, rollout, revision: e.revision, at: e.at, type: e.type, data: e.data };
}

/**
 * The three routes over a Rollout's log (api-core.ts), viewer's like every read of a
 * rollout: the dispatcher asks RBAC in the Rollout's namespace (kube-access.ts) before any
 * runs. A stream ends once its caller's token or session ends on this replica, and once
 * `stillValid` (asked again every `recheckMs` while it lasts) says the caller no longer may.
 */
export function clusterLogRoutes(
  logs: ClusterLogs,
  caller: {
    stillValid: (req: IncomingMessage, p: Principal) => Promise<boolean>;
    /** Calls `end` once the caller's token or session ends on this replica; returns what stops watching. */
    whileSignedIn?: (p: Principal, end: () => void) => () => void;
  },
): Route[] {
  return rolloutLogRoutes({
    history: async (ref, limit) => {
      const { name, log } = await logs.read(ref);
      const events = log.events.filter((e) => HISTORY_TYPES.includes(e.type)).slice(-limit);
      return events.map((e) => eventRow(e, name));
    },
    series: async (ref, range) => {
      const { log } = await logs.read(ref);
      const rows = log.history.filter((r) => r.start < range.to && r.start + r.width > range.from);
      const marks = log.events
        .filter((e) => MARK_TYPES.includes(e.type) && e.at >= range.from && e.at < range.to)
        .map((e) => ({ ...e.data, at: e.at, type: e.type }));
      return {
        ...seriesAnswer(range, rows),
        marks: marks.slice(0, MAX_MARKS),
        ...(marks.length > MAX_MARKS ? { marksTruncated: true } : {}),
      };
    },
    stream: ({ req, res, query, params, principal }) => {
      if (caller.whileSignedIn)
        res.once(
          'close',
          caller.whileSignedIn(principal!, () => res.destroy()),
        );
      return logs.serve(req, res, query, params.name!, () => caller.stillValid(req, principal!));
    },
    errors: { history: [404, 503], series: [404, 503], events: [404, 503] },
  });
}
