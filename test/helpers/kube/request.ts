/**
 * Raw HTTP to the test API server, for its own tests: they check the wire (codes, Status
 * bodies, headers), so they do not go through kanari's KubeClient.
 */
export interface KubeAnswer {
  status: number;
  body: any;
  headers: Headers;
}

export const JSON_TYPE = 'application/json';
export const MERGE = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';
export const APPLY = 'application/apply-patch+yaml';

export async function kube(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = JSON_TYPE,
  accept?: string,
): Promise<KubeAnswer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': contentType, ...(accept ? { accept } : {}) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the test sees the text.
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A client bound to one server, with the common calls. */
export function kubeAt(base: string) {
  return {
    get: (path: string) => kube(base, 'GET', path),
    post: (path: string, body: unknown) => kube(base, 'POST', path, body),
    put: (path: string, body: unknown) => kube(base, 'PUT', path, body),
    merge: (path: string, body: unknown) => kube(base, 'PATCH', path, body, MERGE),
    jsonPatch: (path: string, body: unknown) => kube(base, 'PATCH', path, body, JSON_PATCH),
    apply: (path: string, body: unknown, manager: string, force = false) =>
      kube(base, 'PATCH', `${path}?fieldManager=${manager}${force ? '&force=true' : ''}`, body, APPLY),
    delete: (path: string, body?: unknown) => kube(base, 'DELETE', path, body),
  };
}

/** A Deployment of `replicas` running `image`, selected by `app: <name>`. */
export function deployment(name: string, image = 'app:1', replicas = 2): Record<string, any> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

/** Polls `check` until it returns something other than undefined, or fails after `ms`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw watch: every event line as parsed, until the server ends the stream or `stop()`. */
export function watchStream(base: string, path: string, accept?: string) {
  const events: any[] = [];
  const abort = new AbortController();
  const done = (async () => {
    const res = await fetch(`${base}${path}`, { signal: abort.signal, ...(accept ? { headers: { accept } } : {}) });
    let buffered = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffered.slice(0, nl)));
          buffered = buffered.slice(nl + 1);
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
    return res.status;
  })();
  return { events, done, stop: () => abort.abort() };
}

/** Creates CRDs (or any cluster-scoped objects) and fails loudly if the server refuses one. */
export async function installCrds(base: string, ...crds: { metadata: { name: string } }[]): Promise<void> {
  for (const crd of crds) {
    const res = await kube(base, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    if (res.status !== 201)
      throw new Error(`CRD ${crd.metadata.name} refused: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/** A ConfigMap, the plainest object there is: no status, no generation, no controller. */
export function configMap(
  name: string,
  data?: Record<string, string>,
  labels?: Record<string, string>,
): Record<string, any> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(labels ? { labels } : {}) },
    ...(data ? { data } : {}),
  };
}
