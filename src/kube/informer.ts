/**
 * Keeps up with every object of a kind, as client-go's reflector does: list, then watch
 * from the list's version; when the stream ends, watch again from the last version seen
 * (an event's or a bookmark's); when that version is too old (410 Gone), list again. Any
 * other failure is reported and retried after a pause that grows to a limit.
 */
import { KubeGone, type KubeClient, type KubeObject, type Watch, type WatchEvent } from './api.js';

export interface KindHandlers<T extends KubeObject> {
  /** Every object there is, after each list (at the start, and after a 410): reconcile each, forget those missing. */
  synced(objects: T[]): void;
  /** One change after the list; bookmarks are not passed on. */
  changed(event: WatchEvent<T> & { type: 'ADDED' | 'MODIFIED' | 'DELETED' }): void;
  /** A failure that will be retried (to log it). */
  failed?(err: unknown): void;
}

export interface KindWatch {
  /** Ends the watch; resolves once nothing more will be called. */
  stop(): Promise<void>;
}

export interface KindWatchOptions {
  labelSelector?: string;
  /** The first pause after a failure; it doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
}

export function watchKind<T extends KubeObject>(
  client: KubeClient,
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  handlers: KindHandlers<T>,
  options: KindWatchOptions = {},
): KindWatch {
  const selector = options.labelSelector ? { labelSelector: options.labelSelector } : {};
  let stopped = false;
  let current: Watch | undefined;
  let wake: (() => void) | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const loop = async () => {
    let version: string | undefined;
    let retry = options.retryMs ?? 1000;
    while (!stopped) {
      try {
        if (version === undefined) {
          const list = await client.list<T>(apiVersion, kind, namespace, selector);
          if (stopped) return;
          handlers.synced(list.items);
          version = list.resourceVersion;
        }
        current = client.watch<T>(apiVersion, kind, { ...selector, namespace, resourceVersion: version }, (event) => {
          if (stopped) return;
          if (event.type !== 'BOOKMARK') handlers.changed(event as Parameters<KindHandlers<T>['changed']>[0]);
          // After the handler: an event it failed on is seen again when the watch resumes.
          version = event.object.metadata.resourceVersion ?? version;
        });
        const started = Date.now();
        await current.done;
        retry = options.retryMs ?? 1000;
        // A server that ends each stream at once is not asked again in a tight loop.
        if (Date.now() - started < 1000) await pause(retry);
      } catch (err) {
        if (stopped) return;
        if (err instanceof KubeGone) {
          version = undefined;
          continue;
        }
        handlers.failed?.(err);
        await pause(retry);
        retry = Math.min(retry * 2, options.maxRetryMs ?? 30_000);
      }
    }
  };
  const running = loop();

  return {
    async stop() {
      stopped = true;
      current?.stop();
      wake?.();
      await running;
    },
  };
}
