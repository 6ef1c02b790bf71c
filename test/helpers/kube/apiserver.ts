/**
 * A Kubernetes API server for tests: plain HTTP on 127.0.0.1, no authentication, the generic
 * semantics kanari and kubectl rely on (see docs/kubernetes/testing.md for what it does and
 * does not do). A dev/test module, never shipped. Each request is parsed here and carried
 * out by the registry (writes.ts, deletion.ts), the store (store.ts) and watch.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCrdController, validateCrd } from './crds.js';
import { Deletion } from './deletion.js';
import { DeploymentController } from './deployments.js';
import { ApiError, badRequest, gone } from './errors.js';
import { contentType, discovery, notFoundPath, openApi, readBody, route, send } from './http.js';
import { apiVersionOf, Kinds, type Kind } from './kinds.js';
import { isObject } from './schema.js';
import { fieldSelector, labelSelector } from './selectors.js';
import { answerReview, newReviews, type Reviews } from './reviews.js';
import { serveScale } from './scale.js';
import { ObjectStore, type StoredObject } from './store.js';
import { toTable, wantsTable } from './table.js';
import { serveWatch } from './watch.js';
import { Writes, type PatchKind, type Target, type WriteRequest } from './writes.js';

export interface KubeApiServerOptions {
  /** How long the stand-in Deployment controller takes to make every replica ready (default 50 ms). */
  deploymentReadyDelayMs?: number;
  /** Changes kept for watches to resume from (default 1000); older resourceVersions are 410 Gone. */
  historySize?: number;
  /** How often a watch that allows bookmarks gets one (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** How long the garbage collector takes to notice an owner is gone (default 20 ms). */
  collectorDelayMs?: number;
}

/** An object as tests read it: any field, untyped (they assert on it). */
export type AnyObject = StoredObject & { spec?: any; status?: any; data?: any };

export interface TestKubeApi {
  url: string;
  close(): Promise<void>;
  /** An object as stored now (undefined when there is none), for assertions. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): AnyObject | undefined;
  /** Every object of a kind, in a namespace or all. */
  objects(apiVersion: string, kind: string, namespace?: string): AnyObject[];
  /** Ready pods per pod-template hash of a Deployment, as the stand-in controller keeps them. */
  readyPods(namespace: string, name: string): Record<string, number>;
  /** The last resourceVersion written. */
  resourceVersion(): string;
  /** Who TokenReviews say each token is and what SubjectAccessReviews allow: the test's to change. */
  reviews: Reviews;
}

const NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const PATCH_TYPES: Record<string, PatchKind> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<TestKubeApi> {
  const kinds = new Kinds();
  const store = new ObjectStore(options.historySize ?? 1000);
  const writes = new Writes(store, kinds);
  const deletion = new Deletion(store, kinds, writes, options.collectorDelayMs ?? 20);
  const stopCrds = runCrdController(store, kinds);
  const deployments = new DeploymentController(store, kinds, writes, options.deploymentReadyDelayMs ?? 50);
  const nsKind = kinds.byType('v1', 'Namespace')!;
  for (const name of NAMESPACES)
    writes.create(
      { kind: nsKind },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      { manager: 'kube-apiserver', apiVersion: 'v1' },
    );
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
  const reviews = newReviews();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const error =
        err instanceof ApiError
          ? err
          : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
      if (!(err instanceof ApiError)) console.error('test API server: unexpected error', err);
      if (res.headersSent) res.end();
      else send(res, error.code, error.status());
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const fixed = method === 'GET' ? discovery(kinds, path, `${req.headers.host}`) : undefined;
    if (fixed !== undefined) return fixed === null ? send(res, 404, notFoundPath(path)) : send(res, 200, fixed);
    if (method === 'GET' && path === '/openapi/v2') return openApi(req, res);
    const target = route(kinds, path);
    if (!target) return send(res, 404, notFoundPath(path));
    if (/protobuf|cbor/.test(contentType(req))) {
      // Only JSON and YAML bodies: a client that prefers protobuf falls back to JSON on 415.
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
      );
    }
    const body = await readBody(
      req,
      method === 'PATCH'
        ? PATCH_TYPES[contentType(req)] === 'apply'
          ? 'yaml'
          : 'json'
        : contentType(req).includes('yaml')
          ? 'yaml'
          : 'json',
    );
    const params = url.searchParams;
    if (params.has('dryRun')) throw badRequest('dryRun: the test API server does not implement dry runs');
    const warnings: string[] = [];
    const writer: WriteRequest = {
      manager: params.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0]!,
      apiVersion: apiVersionOf(target.kind),
      ...(target.subresource ? { subresource: target.subresource } : {}),
      fieldValidation: params.get('fieldValidation'),
      warnings,
    };
    const reply = (res: ServerResponse, code: number, body: unknown): void => {
      if (warnings.length > 0)
        res.setHeader(
          'Warning',
          warnings.map((w) => `299 - ${JSON.stringify(w)}`),
        );
      send(res, code, body);
    };
    if (writer.manager.length > 128) throw badRequest('fieldManager: Too long: may not be longer than 128');
    const collection = target.name === undefined;
    if (method !== 'GET' && target.kind.namespaced && target.namespace === undefined)
      throw new ApiError(405, 'MethodNotAllowed', `${target.kind.plural} must be written in a namespace`);
    if (target.kind.review) {
      if (method !== 'POST' || !collection)
        throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      return reply(res, 201, await answerReview(reviews, target.kind, body));
    }
    if (target.subresource === 'scale') {
      return reply(res, 200, serveScale(store, writes, target, method, body, PATCH_TYPES[contentType(req)], writer));
    }
    if (method === 'GET' && collection) {
      const selector = andSelectors(
        labelSelector(params.get('labelSelector')),
        fieldSelector(params.get('fieldSelector')),
      );
      if (params.get('watch') === 'true' || params.get('watch') === '1') {
        return serveWatch(req, res, store, {
          kind: target.kind,
          ...ns(target),
          selector,
          params,
          bookmarkIntervalMs,
          table: wantsTable(req.headers.accept),
        });
      }
      const rv = params.get('resourceVersion');
      if (params.get('resourceVersionMatch') === 'Exact' && rv !== String(store.resourceVersion))
        throw gone(`too old resource version: ${rv} (${store.resourceVersion})`);
      const items = store.list(target.kind, target.namespace).filter(selector);
      const listRv = String(store.resourceVersion);
      if (wantsTable(req.headers.accept)) return reply(res, 200, toTable(target.kind, items, listRv));
      return reply(res, 200, {
        kind: `${target.kind.kind}List`,
        apiVersion: apiVersionOf(target.kind),
        metadata: { resourceVersion: listRv },
        // Typed lists of built-ins carry no kind or apiVersion on their items; custom resources do.
        items: target.kind.crd ? items : items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
      });
    }
    if (method === 'GET') {
      const object = store.get(target.kind, target.namespace, target.name!);
      if (!object)
        throw new ApiError(
          404,
          'NotFound',
          `${target.kind.plural}${target.kind.group ? `.${target.kind.group}` : ''} "${target.name}" not found`,
          { name: target.name!, group: target.kind.group, kind: target.kind.plural },
        );
      return reply(
        res,
        200,
        wantsTable(req.headers.accept) ? toTable(target.kind, [object], object.metadata.resourceVersion ?? '') : object,
      );
    }
    if (method === 'POST' && collection && !target.subresource) {
      if (target.kind.kind === 'CustomResourceDefinition' && isObject(body))
        validateCrd(body as unknown as StoredObject);
      return reply(res, 201, writes.create(target, body, writer));
    }
    if (method === 'PUT' && !collection) {
      if (target.kind.kind === 'CustomResourceDefinition' && isObject(body))
        validateCrd(body as unknown as StoredObject);
      return reply(res, 200, writes.update(target, body, writer));
    }
    if (method === 'PATCH' && !collection) {
      const type = PATCH_TYPES[contentType(req)];
      if (!type || (type === 'strategic' && target.kind.crd)) {
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${target.kind.crd ? '' : ', application/strategic-merge-patch+json'}`,
        );
      }
      const force = params.get('force');
      if (force !== null && type !== 'apply')
        throw badRequest('force: Forbidden: may not be specified for non-apply patch');
      if (type === 'apply' && !params.get('fieldManager'))
        throw new ApiError(
          422,
          'Invalid',
          'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        );
      const existed = store.get(target.kind, target.namespace, target.name!) !== undefined;
      const result = writes.patch(target, type, body, writer, force === 'true');
      return reply(res, existed ? 200 : 201, result);
    }
    if (method === 'DELETE' && !target.subresource) {
      const opts = isObject(body) ? body : {};
      const policy =
        params.get('propagationPolicy') ??
        (typeof opts.propagationPolicy === 'string' ? opts.propagationPolicy : undefined);
      const pre = isObject(opts.preconditions) ? opts.preconditions : {};
      const preconditions = {
        ...(typeof pre.uid === 'string' ? { uid: pre.uid } : {}),
        ...(typeof pre.resourceVersion === 'string' ? { resourceVersion: pre.resourceVersion } : {}),
      };
      if (!collection)
        return reply(
          res,
          200,
          deletion.delete(target, { preconditions, ...(policy ? { propagationPolicy: policy } : {}) }),
        );
      const selector = labelSelector(params.get('labelSelector'));
      const gone = store
        .list(target.kind, target.namespace)
        .filter(selector)
        .map((o) => deletion.delete({ ...target, name: o.metadata.name }, {}));
      return reply(res, 200, {
        kind: `${target.kind.kind}List`,
        apiVersion: apiVersionOf(target.kind),
        metadata: { resourceVersion: String(store.resourceVersion) },
        items: gone,
      });
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kindOf = (apiVersion: string, kind: string): Kind => {
    const found = kinds.byType(apiVersion, kind);
    if (!found) throw new Error(`the test API server does not serve ${apiVersion} ${kind}`);
    return found;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    get: (apiVersion, kind, namespace, name) => store.get(kindOf(apiVersion, kind), namespace, name),
    objects: (apiVersion, kind, namespace) => store.list(kindOf(apiVersion, kind), namespace),
    readyPods: (namespace, name) => deployments.readyPods(namespace, name),
    resourceVersion: () => String(store.resourceVersion),
    reviews,
    close: async () => {
      deployments.close();
      deletion.close();
      stopCrds();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const ns = (t: Target) => (t.namespace !== undefined ? { namespace: t.namespace } : {});

const andSelectors =
  (...selectors: ((o: StoredObject) => boolean)[]) =>
  (o: StoredObject): boolean =>
    selectors.every((s) => s(o));
