/**
 * A person's command to a Rollout on a cluster: written into the `kanari.dev/command`
 * annotation with a fresh id (src/kube/commands.ts), then awaited until the operator
 * answers that id in `status.command`. The annotation holds one request at a time, so a
 * command waits for one already there to be answered before writing its own, and writes
 * at the resourceVersion it read: two people's commands at once are both carried out, one
 * after the other, and each waits for its own answer. One that gets no answer in time is
 * taken back out, so an operator started hours later does not carry out a stale promote.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '../config/schemas/common.js';
import { KubeConflict, KubeError, KubeGone, type KubeObject } from '../kube/api.js';
import { COMMAND_ANNOTATION, readCommand, type CommandAnswer, type CommandRequest } from '../kube/commands.js';
import { asking, type Cluster } from './cluster.js';
import { getRollout, rolloutRef } from './cluster-status.js';
import { CommandError, EXIT } from './exit.js';

export type CommandAsked = Omit<CommandRequest, 'id' | 'by'>;

/** Writes the command and resolves with the operator's answer and the resource that carries it. */
export async function sendCommand(
  cluster: Cluster,
  name: string,
  asked: CommandAsked,
  timeoutMs: number,
): Promise<{ answer: CommandAnswer; resource: KubeObject }> {
  const deadline = Date.now() + timeoutMs;
  const by = cluster.user ?? localUser();
  const request: CommandRequest = {
    id: `${asked.command}-${randomBytes(6).toString('hex')}`,
    ...asked,
    ...(by ? { by: by.slice(0, 253) } : {}),
  };
  const what = `Rollout ${cluster.namespace}/${name}`;
  const written = await writeRequest(cluster, name, request, deadline, timeoutMs);
  const settled = await follow(
    cluster,
    name,
    written,
    deadline,
    (r) => answerOf(r)?.id === request.id || !holds(r, request.id),
  ).catch((err: unknown) => {
    if (!(err instanceof KubeError)) throw err;
    throw new CommandError(
      `${what}: ${request.command} (id ${request.id}) was sent, but its answer could not be read: ${err.message}; kanari status ${name} shows where it is`,
      err.status === 0 ? EXIT.unreachable : EXIT.failed,
    );
  });
  const answered = settled ?? (await withdraw(cluster, name, request.id));
  const answer = answered && answerOf(answered);
  if (answered && answer?.id === request.id) return { answer, resource: answered };
  if (settled)
    throw new CommandError(
      `${what}: ${request.command} (id ${request.id}) was replaced in ${COMMAND_ANNOTATION} before its answer could be read; kanari status ${name} shows where the rollout is`,
    );
  throw new CommandError(
    `${what}: no answer to ${request.command} from the kanari operator within ${timeoutMs / 1000} s: is it running, and does it watch namespace ${cluster.namespace}? (${OPERATOR_PODS}). The request was taken back, so it will not be carried out later.`,
    EXIT.unreachable,
  );
}

/**
 * Writes `request` into the annotation at the resourceVersion read, once no request before
 * it waits for an answer; resolves with the resource as written.
 */
async function writeRequest(
  cluster: Cluster,
  name: string,
  request: CommandRequest,
  deadline: number,
  timeoutMs: number,
): Promise<KubeObject> {
  const what = `Rollout ${cluster.namespace}/${name}`;
  let resource = await getRollout(cluster, name);
  for (;;) {
    refuseUnlessRunning(resource, what);
    const pending = pendingCommand(resource);
    if (pending) {
      const answered = await follow(cluster, name, resource, deadline, (r) => !pendingCommand(r));
      if (!answered)
        throw new CommandError(
          `${what}: ${describeRequest(pending)} has waited for the operator's answer for ${timeoutMs / 1000} s, and this ${request.command} waits behind it: is the kanari operator running? (${OPERATOR_PODS})`,
          EXIT.unreachable,
        );
      resource = answered;
      continue;
    }
    try {
      return await asking('patch', cluster, () =>
        cluster.client.patch(rolloutRef(cluster.namespace, name), 'merge', {
          metadata: {
            resourceVersion: resource.metadata.resourceVersion,
            annotations: { [COMMAND_ANNOTATION]: JSON.stringify(request) },
          },
        }),
      );
    } catch (err) {
      // Someone else wrote in between (another command, the operator's status): read again and look.
      if (!(err instanceof KubeConflict)) throw err;
      resource = await getRollout(cluster, name);
    }
  }
}

const OPERATOR_PODS = 'kubectl get pods -A -l app.kubernetes.io/name=kanari-operator';

function localUser(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

function status(r: KubeObject): { state?: unknown; message?: unknown; command?: unknown } {
  const s = r.status;
  return s && typeof s === 'object' && !Array.isArray(s) ? s : {};
}

/** The operator answers only for a Rollout it runs: one it has not taken on, or refuses, would never answer. */
function refuseUnlessRunning(r: KubeObject, what: string): void {
  if (status(r).state !== undefined) return;
  const message = status(r).message;
  throw new CommandError(
    `${what} is not running${typeof message === 'string' ? `: ${message}` : ' yet: the kanari operator has not taken it on'}; the operator answers commands only for a Rollout it runs`,
  );
}

function answerOf(r: KubeObject): CommandAnswer | undefined {
  const c = status(r).command as Partial<CommandAnswer> | undefined;
  return c && typeof c === 'object' && typeof c.id === 'string' ? (c as CommandAnswer) : undefined;
}

/** A valid request in the annotation that the operator has not answered yet; one that is not valid never will be. */
function pendingCommand(r: KubeObject): CommandRequest | undefined {
  const request = readCommand(r.metadata.annotations);
  if (!request || 'invalid' in request) return undefined;
  return answerOf(r)?.id === request.id ? undefined : request;
}

function holds(r: KubeObject, id: string): boolean {
  const request = readCommand(r.metadata.annotations);
  return request !== undefined && !('invalid' in request) && request.id === id;
}

function describeRequest(r: CommandRequest): string {
  return `${r.command}${r.by ? ` from ${r.by}` : ''} (id ${r.id})`;
}

/**
 * Takes our request back out of the annotation, only if it is still ours (a JSON patch
 * `test`); resolves with the resource as it is then, which may hold the answer after all.
 */
async function withdraw(cluster: Cluster, name: string, id: string): Promise<KubeObject | undefined> {
  const resource = await getRollout(cluster, name);
  if (answerOf(resource)?.id === id || !holds(resource, id)) return resource;
  const path = `/metadata/annotations/${COMMAND_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  try {
    await cluster.client.patch(rolloutRef(cluster.namespace, name), 'json', [
      { op: 'test', path, value: resource.metadata.annotations![COMMAND_ANNOTATION] },
      { op: 'remove', path },
    ]);
  } catch (err) {
    // The test failed: the annotation changed since it was read; look again below.
    if (!(err instanceof KubeError) || err.status === 0) throw err;
  }
  return getRollout(cluster, name);
}

/**
 * Follows the Rollout from `from` with a watch until `ok` holds for it, resolving with the
 * resource then, or with undefined at `deadline`. A watch that ends or expires is followed
 * by a fresh read and a new watch.
 */
async function follow(
  cluster: Cluster,
  name: string,
  from: KubeObject,
  deadline: number,
  ok: (r: KubeObject) => boolean,
): Promise<KubeObject | undefined> {
  let current = from;
  while (!ok(current)) {
    if (Date.now() >= deadline) return undefined;
    const outcome = await watchOnce(cluster, name, current, deadline, ok);
    if (outcome === 'deleted')
      throw new CommandError(`Rollout ${cluster.namespace}/${name} was deleted while waiting`, EXIT.notFound);
    if (outcome === 'timeout') return undefined;
    if (outcome === 'ended') {
      await sleep(200); // a server that ends every watch at once is not asked in a tight loop
      current = await getRollout(cluster, name);
      continue;
    }
    current = outcome;
  }
  return current;
}

function watchOnce(
  cluster: Cluster,
  name: string,
  from: KubeObject,
  deadline: number,
  ok: (r: KubeObject) => boolean,
): Promise<KubeObject | 'deleted' | 'timeout' | 'ended'> {
  return new Promise((resolve, reject) => {
    const settle = (value: KubeObject | 'deleted' | 'timeout' | 'ended') => {
      clearTimeout(timer);
      watch.stop();
      resolve(value);
    };
    const timer = setTimeout(() => settle('timeout'), Math.max(0, deadline - Date.now()));
    const watch = cluster.client.watch(
      API_VERSION,
      'Rollout',
      {
        namespace: cluster.namespace,
        resourceVersion: from.metadata.resourceVersion ?? '0',
        fieldSelector: `metadata.name=${name}`,
      },
      (event) => {
        if (event.type === 'DELETED') settle('deleted');
        else if (event.type !== 'BOOKMARK' && ok(event.object)) settle(event.object);
      },
    );
    watch.done.then(
      () => settle('ended'),
      (err: unknown) => {
        // Too old a version to resume from: read again and watch from there.
        if (err instanceof KubeGone) return settle('ended');
        clearTimeout(timer);
        asking('watch', cluster, () => Promise.reject(err)).catch(reject);
      },
    );
  });
}
