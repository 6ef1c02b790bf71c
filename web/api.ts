/**
 * The dashboard's one way to the controller: same-origin requests (the session cookie, or
 * the bearer token a test's browser adds), JSON in and out, the CSRF token on every request
 * that changes something, and problems (RFC 9457) turned into errors that carry the detail.
 */
import type { Role, Who } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
  }
}

let csrf: string | undefined;

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf !== undefined) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const detail = (json as { detail?: unknown } | undefined)?.detail;
    throw new ApiError(res.status, typeof detail === 'string' ? detail : `${res.status} ${res.statusText}`);
  }
  return json as T;
}

/** What the sign-in page may offer: null when this controller has no browser sign-in (its /auth/* answers 404). */
export interface AuthConfig {
  oidc: { label: string } | null;
}

/**
 * Who is here: the session's actor and role (keeping its CSRF token for later requests),
 * else, for a browser that sends a bearer token itself, the token's; undefined for nobody.
 */
export async function whoIsHere(): Promise<Who | undefined> {
  try {
    const s = await api<{ actor: string; role: Role; csrf: string }>('/auth/session');
    csrf = s.csrf;
    return { actor: s.actor, role: s.role, csrf: s.csrf };
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 404)) throw err;
  }
  try {
    const t = await api<{ name: string; role: Role }>('/api/v1/whoami');
    return { actor: t.name, role: t.role };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    throw err;
  }
}

export async function authConfig(): Promise<AuthConfig | undefined> {
  try {
    return await api<AuthConfig>('/auth/config');
  } catch (err) {
    // It is public where it exists; elsewhere the API asks for a token before it says 404.
    if (err instanceof ApiError && (err.status === 404 || err.status === 401)) return undefined;
    throw err;
  }
}

export function mayAct(who: Who): boolean {
  return who.role === 'operator' || who.role === 'admin';
}

/** A rollout's name in the API: `NAMESPACE/NAME` on a cluster, its name alone elsewhere. */
export const rolloutRef = (r: { name: string; namespace?: string }) =>
  r.namespace === undefined ? r.name : `${r.namespace}/${r.name}`;

/** Its resource in the API: the slash of `NAMESPACE/NAME` percent-encoded, so it is one segment. */
export const rolloutPath = (ref: string) => `/api/v1/rollouts/${encodeURIComponent(ref)}`;

/** Its page in the dashboard: `/rollouts/NAMESPACE/NAME` (each part encoded), which main.ts reads back. */
export const rolloutHref = (ref: string) => `/rollouts/${ref.split('/').map(encodeURIComponent).join('/')}`;
