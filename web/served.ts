/**
 * What this API serves, from its own OpenAPI document (public, read once at start): a
 * controller (`kanari up`) serves the event log, each rollout's history, series and reports;
 * the operator's API (`kanari operator --api`) fewer, and a newer one more. The pages ask
 * here before they request, so a route that is not there is neither called nor an error:
 * the page says calmly what is not kept, or polls instead of streaming.
 */
import { api } from './api.js';

let paths: Map<string, Set<string>> | undefined;

/** Reads the document; when it cannot be read, every route is taken as served (a request's 404 still answers). */
export async function loadServed(): Promise<void> {
  try {
    const doc = await api<{ paths?: Record<string, Record<string, unknown>> }>('/api/openapi.json');
    paths = new Map(
      Object.entries(doc.paths ?? {}).map(([path, ops]) => [
        path,
        new Set(Object.keys(ops).map((m) => m.toUpperCase())),
      ]),
    );
  } catch {
    paths = undefined;
  }
}

/** Whether `method` on `path` (as the document names it: `/api/v1/rollouts/{name}/history`) is served here. */
export function serves(method: 'GET' | 'POST' | 'DELETE', path: string): boolean {
  return paths === undefined || (paths.get(path)?.has(method) ?? false);
}

/** A rollout's sub-resource, as the document names it. */
export const rolloutRoute = (sub: string) => `/api/v1/rollouts/{name}/${sub}`;
