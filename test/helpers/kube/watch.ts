/**
 * `?watch=true`: one JSON event per line on a chunked response, as the real server streams
 * them. From `resourceVersion` N it replays the changes after N still in the history, then
 * streams new ones; from an N already compacted it sends one ERROR event carrying a 410
 * Expired Status and ends, as the real watch cache does. With a selector, an object that
 * leaves it is reported DELETED and one that enters it ADDED. Bookmarks every
 * `bookmarkIntervalMs` when asked for; the stream ends after `timeoutSeconds`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, gone } from './errors.js';
import { apiVersionOf, type Kind } from './kinds.js';
import type { Selector } from './selectors.js';
import { as, type Change, type ObjectStore, type StoredObject } from './store.js';
import { toTable } from './table.js';

export interface WatchRequest {
  kind: Kind;
  namespace?: string;
  selector: Selector;
  params: URLSearchParams;
  bookmarkIntervalMs: number;
  /** kubectl get -w asks for Tables: each event's object is then a one-row Table. */
  table: boolean;
}

export function serveWatch(req: IncomingMessage, res: ServerResponse, store: ObjectStore, w: WatchRequest): void {
  const from = w.params.get('resourceVersion');
  if (from && from !== '0' && !/^[0-9]+$/.test(from))
    throw badRequest(`resourceVersion: Invalid value: "${from}": must be a non-negative integer`);
  const timeout = w.params.get('timeoutSeconds');
  if (timeout !== null && !/^[0-9]+$/.test(timeout)) throw badRequest(`timeoutSeconds: Invalid value: "${timeout}"`);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  const send = (type: string, object: unknown): void => {
    const shown =
      w.table && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
        ? toTable(w.kind, [object as StoredObject], '')
        : object;
    if (!res.writableEnded) res.write(`${JSON.stringify({ type, object: shown })}\n`);
  };
  const inScope = (o: StoredObject): boolean => w.namespace === undefined || o.metadata.namespace === w.namespace;
  const emit = (change: Change): void => {
    if (change.kind.group !== w.kind.group || change.kind.kind !== w.kind.kind || !inScope(change.object)) return;
    const now = w.selector(change.object);
    const before = change.previous !== undefined && w.selector(change.previous);
    const object = as(w.kind, change.object);
    if (change.type === 'MODIFIED') {
      if (now) send(before ? 'MODIFIED' : 'ADDED', object);
      else if (before) send('DELETED', object);
    } else if (now) send(change.type, object);
  };

  const cleanup: (() => void)[] = [];
  const end = (): void => {
    for (const c of cleanup) c();
    cleanup.length = 0;
    if (!res.writableEnded) res.end();
  };
  req.on('close', end);
  res.on('close', end);

  if (!from || from === '0') {
    for (const object of store.list(w.kind, w.namespace)) if (w.selector(object)) send('ADDED', object);
  } else {
    const missed = store.since(Number(from));
    if (!missed) {
      send('ERROR', gone(`too old resource version: ${from} (${store.compactedRevision})`).status());
      end();
      return;
    }
    for (const change of missed) emit(change);
  }
  cleanup.push(store.subscribe(emit));
  if (w.params.get('allowWatchBookmarks') === 'true') {
    const bookmarks = setInterval(
      () =>
        send('BOOKMARK', {
          kind: w.kind.kind,
          apiVersion: apiVersionOf(w.kind),
          metadata: { resourceVersion: String(store.resourceVersion) },
        }),
      w.bookmarkIntervalMs,
    );
    cleanup.push(() => clearInterval(bookmarks));
  }
  if (timeout !== null) {
    const timer = setTimeout(end, Number(timeout) * 1000);
    cleanup.push(() => clearTimeout(timer));
  }
}
