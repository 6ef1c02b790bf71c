/**
 * Deleting a Rollout gives the user's workload and routing back before kanari's own
 * objects go. The operator puts the finalizer `kanari.dev/cleanup` on a Rollout just before
 * it first touches anything of the user's; while the Rollout is being deleted, each
 * reconcile takes the next step, each derived from what the cluster holds (a restarted or
 * new leader carries on where the last one stopped):
 *
 * 1. the referenced Deployment, held at zero, is scaled back to the size kept in its
 *    `kanari.dev/workload-replicas` annotation;
 * 2. until its pods are available — at most the Rollout's progressDeadline after the
 *    deletion began — kanari's routing stays, so users keep reaching kanari's versions;
 * 3. kanari's routing is taken out of the user's objects (each router's `giveBack`);
 * 4. the annotation goes, then the finalizer, and the garbage collector deletes kanari's
 *    version Deployments and Services (their owner is the Rollout).
 *
 * Past the deadline every step is still taken, with a Warning Event saying what was not
 * given back: a finalizer that never goes blocks the deletion of the namespace, and
 * kanari's routes left behind would send users to Services about to be deleted.
 */
import { z } from 'zod';
import { kubernetesMetadata, kubernetesRolloutSpec } from '../config/schemas/kubernetes.js';
import { formatPath } from '../config/errors.js';
import { describeRef, refOf, type KubeClient, type KubeObject, type ObjectRef } from '../kube/api.js';
import { recordEvent, type EventNote } from '../kube/events.js';
import { deploymentProgress, isKanaris, record, versionObjectName } from '../kube/versions.js';
import { describeSystemError } from '../shared/system.js';
import type { KubernetesRouterFactory } from '../traffic/kubernetes/index.js';
import type { KubernetesTrafficRouter } from '../traffic/kubernetes/kube-router.js';
import { ownerOf, versionOf, type DeploymentObject } from './release.js';

/** The finalizer on every Rollout kanari runs: its deletion waits until the user's workload and routing are back. */
export const CLEANUP_FINALIZER = 'kanari.dev/cleanup';
/** Where the referenced Deployment's own size is kept while kanari holds it at zero. */
export const REPLICAS_ANNOTATION = 'kanari.dev/workload-replicas';

/** The object's finalizers, read defensively (a user may have written anything there). */
function finalizersOf(object: KubeObject): string[] {
  const list = object.metadata.finalizers;
  return Array.isArray(list) ? list.filter((f): f is string => typeof f === 'string') : [];
}

export function hasCleanupFinalizer(object: KubeObject): boolean {
  return finalizersOf(object).includes(CLEANUP_FINALIZER);
}

/** Adds the finalizer at the version read (nothing else is written); the Rollout as it is now. */
export async function addCleanupFinalizer(client: KubeClient, rollout: KubeObject): Promise<KubeObject> {
  if (hasCleanupFinalizer(rollout)) return rollout;
  return client.patch(refOf(rollout), 'merge', {
    metadata: {
      resourceVersion: rollout.metadata.resourceVersion,
      finalizers: [...finalizersOf(rollout), CLEANUP_FINALIZER],
    },
  });
}

/** Removes kanari's finalizer only, tested in place: any other finalizer, and a list changed meanwhile, are left alone. */
async function removeCleanupFinalizer(client: KubeClient, rollout: KubeObject): Promise<void> {
  const index = (rollout.metadata.finalizers as unknown[]).indexOf(CLEANUP_FINALIZER);
  const path = `/metadata/finalizers/${index}`;
  await client.patch(refOf(rollout), 'json', [
    { op: 'test', path, value: CLEANUP_FINALIZER },
    { op: 'remove', path },
  ]);
}

const spec = kubernetesRolloutSpec.shape;
/** What giving back reads of a Rollout: its plan (steps, judges) may have been edited past parsing, and is not needed. */
const givenBackRollout = z.looseObject({
  metadata: kubernetesMetadata,
  spec: z.looseObject({
    workloadRef: spec.workloadRef,
    service: spec.service,
    trafficRouting: spec.trafficRouting,
    replicas: spec.replicas,
    progressDeadline: spec.progressDeadline,
  }),
});
type GivenBackRollout = z.output<typeof givenBackRollout>;

/** What giving the workload back needs: read even from a Rollout whose routing or service no longer parses. */
const givenBackWorkload = z.looseObject({
  metadata: kubernetesMetadata,
  spec: z.looseObject({
    workloadRef: spec.workloadRef,
    replicas: spec.replicas,
    progressDeadline: spec.progressDeadline,
  }),
});
type GivenBackWorkload = z.output<typeof givenBackWorkload>;

/** What giving back is done with: the runner's own client (fenced by the lease), router factory and log. */
export interface GiveBackWorld {
  client: KubeClient;
  /** This replica, which reports the Events. */
  identity: string;
  traffic: KubernetesRouterFactory;
  log(line: string): void;
  /** A log line, once until it changes (a resync repeats the waiting). */
  say(line: string): void;
  now?: () => number;
}

/** What each step acts with. */
interface Hands {
  client: KubeClient;
  router(rollout: GivenBackRollout): KubernetesTrafficRouter;
  say(line: string): void;
  /** An Event on the Rollout, and the same line in the log. */
  note(note: EventNote): Promise<void>;
}

/** Takes the next step of giving back a Rollout being deleted; the caller calls again on the next change. */
export async function giveBack(seen: KubeObject, world: GiveBackWorld): Promise<void> {
  // Read again: a watch's copy may be from before the last step (the finalizer gone), and a step is never taken twice.
  const resource = await world.client.get(refOf(seen));
  if (!resource?.metadata.deletionTimestamp || !hasCleanupFinalizer(resource)) return;
  const key = `${resource.metadata.namespace}/${resource.metadata.name}`;
  const w: Hands = {
    client: world.client,
    // Giving back writes no backend and scales no version: the port and size are not used.
    router: (rollout) =>
      world.traffic(rollout, { owner: ownerOf(resource), port: rollout.spec.service.port ?? 0, replicas: 1 }),
    say: world.say,
    note: async (note) => {
      const { failed } = await recordEvent(world.client, resource, note, world.identity);
      world.log(`${key}: ${note.reason}: ${note.message}${failed ? ` (no Event: ${failed})` : ''}`);
    },
  };
  const parsed = givenBackRollout.safeParse(resource);
  // A Rollout edited into a bad shape still gives its workload back where that part reads: left
  // at zero while GC takes kanari's versions, users would be cut off.
  const part = parsed.success ? parsed : givenBackWorkload.safeParse(resource);
  if (!part.success) {
    const issue = part.error.issues[0]!;
    await w.note({
      type: 'Warning',
      reason: 'NotGivenBack',
      message: `the Rollout is not valid (${formatPath(issue.path)}: ${issue.message}), so kanari cannot tell which Deployment and routing objects to give back: check them by hand (the Deployment's ${REPLICAS_ANNOTATION} annotation holds its size)`,
    });
    return removeCleanupFinalizer(w.client, resource);
  }
  const rollout = part.data;
  const deadline = Date.parse(resource.metadata.deletionTimestamp ?? '') + rollout.spec.progressDeadline;
  // An unreadable timestamp is past the deadline: deletion must never wait forever.
  const late = !((world.now ?? Date.now)() < deadline);
  const ref: ObjectRef = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: resource.metadata.namespace ?? 'default',
    name: rollout.spec.workloadRef.name,
  };
  const workload = await w.client.get<DeploymentObject>(ref);
  // Held: its size kept in the annotation, or (the annotation taken off by hand) at zero
  // while kanari ran a stable version. A Deployment being deleted (its namespace going too) is not waited for.
  const held =
    workload !== undefined &&
    !workload.metadata.deletionTimestamp &&
    (workload.metadata.annotations?.[REPLICAS_ANNOTATION] !== undefined ||
      ((workload.spec?.replicas ?? 1) === 0 && stableVersionOf(resource) !== undefined));
  if (held && !(await workloadServes(resource, rollout, workload, ref, late, w))) return;
  let routing = "kanari's routing is out of your objects";
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    routing = 'what kanari wrote in your routing objects is left there (see the Warning)';
    await w.note({
      type: 'Warning',
      reason: 'RoutingNotGivenBack',
      message: `the Rollout is not valid (${formatPath(issue.path)}: ${issue.message}), so kanari cannot tell which routing objects to give back: take out by hand what kanari wrote (docs/kubernetes.md, "Deleting a Rollout")`,
    });
  } else
    try {
      await w.router(parsed.data).giveBack();
    } catch (err) {
      if (!late) return w.say(`cannot give the routing back yet (retrying): ${describeSystemError(err)}`);
      routing = 'what kanari wrote in your routing objects is left there (see the Warning)';
      await w.note({
        type: 'Warning',
        reason: 'RoutingNotGivenBack',
        message: `kanari's routing could not be taken out of your objects within the progressDeadline: ${describeSystemError(err)}; take out by hand what kanari wrote (docs/kubernetes.md, "Deleting a Rollout")`,
      });
    }
  if (held) await w.client.patch(ref, 'merge', { metadata: { annotations: { [REPLICAS_ANNOTATION]: null } } });
  await w.note({
    type: 'Normal',
    reason: 'GivenBack',
    message: `${held ? `${describeRef(ref)} is yours again at ${workload.spec?.replicas ?? 1} replicas; ` : ''}${routing}; kanari's version Deployments and Services go with the Rollout`,
  });
  // Said while the Rollout is still there to be described; the finalizer goes last.
  await removeCleanupFinalizer(w.client, resource);
}

/**
 * Scales the held Deployment back, or says whether it serves: true once its pods are
 * available, or past the deadline (with a Warning); false while it is worth waiting.
 */
async function workloadServes(
  resource: KubeObject,
  rollout: GivenBackWorkload,
  workload: DeploymentObject,
  ref: ObjectRef,
  late: boolean,
  w: Hands,
): Promise<boolean> {
  if ((workload.spec?.replicas ?? 1) === 0) {
    const kept = workload.metadata.annotations?.[REPLICAS_ANNOTATION];
    const known = kept !== undefined && /^[0-9]{1,6}$/.test(kept);
    const size = known ? Number(kept) : await guessedSize(resource, rollout, ref, w.client);
    // A Deployment that was at zero before kanari (its stable version had none either) stays there.
    if (size === 0) return true;
    // The annotation stays (written again if it was lost) until the routing is back: it marks the Deployment as one to wait for.
    await w.client.patch(ref, 'merge', {
      metadata: {
        resourceVersion: workload.metadata.resourceVersion,
        annotations: { [REPLICAS_ANNOTATION]: String(size) },
      },
      spec: { replicas: size },
    });
    const why =
      kept === undefined
        ? `its ${REPLICAS_ANNOTATION} annotation was taken off`
        : `its ${REPLICAS_ANNOTATION} annotation "${kept}" is not a size`;
    await w.note({
      type: known ? 'Normal' : 'Warning',
      reason: 'ScaledBack',
      message: `scaled ${describeRef(ref)} back to ${size} replicas${known ? '' : ` (${why}; the size is a guess: the Rollout's replicas, else its stable version's)`}; kanari's routing stays until they are available`,
    });
    const unjudged = unjudgedNote(resource, workload, ref);
    if (unjudged) await w.note(unjudged);
    return false;
  }
  const p = deploymentProgress(workload);
  if (p.observed && p.ready >= p.wanted) return true;
  const progress = `${p.ready} of ${p.wanted} pods ready`;
  if (!late && !p.stuck) {
    w.say(`waiting for ${describeRef(ref)} to serve before giving the routing back (${progress})`);
    return false;
  }
  await w.note({
    type: 'Warning',
    reason: 'NotAvailable',
    message: `${describeRef(ref)} is not available (${p.stuck ?? `${progress} after the progressDeadline`}); kanari gives the routing back all the same, as the Rollout's deletion must not wait forever`,
  });
  return true;
}

/** The stable version kanari ran, as the Rollout's status says (read defensively: anyone may have edited it). */
function stableVersionOf(resource: KubeObject): string | undefined {
  const version = record(record(record(resource.status).state).stable).version;
  return typeof version === 'string' ? version : undefined;
}

/** A size for a Deployment whose own was lost: the Rollout's replicas, else the pods of kanari's stable version, else 1. */
async function guessedSize(
  resource: KubeObject,
  rollout: GivenBackWorkload,
  ref: ObjectRef,
  client: KubeClient,
): Promise<number> {
  if (rollout.spec.replicas !== undefined) return rollout.spec.replicas;
  const stable = stableVersionOf(resource);
  let replicas: unknown;
  try {
    // The version comes from a status anyone may have edited: a name Kubernetes could not have is not looked up.
    const name = stable === undefined ? undefined : versionObjectName(rollout.metadata.name, stable);
    const version = name === undefined ? undefined : await client.get({ ...ref, name });
    if (version && isKanaris(version, rollout.metadata.name)) replicas = record(version.spec).replicas;
  } catch {
    replicas = undefined;
  }
  return typeof replicas === 'number' && Number.isInteger(replicas) && replicas >= 0 ? replicas : 1;
}

/**
 * A Rollout deleted during a release (or after one was rolled back) gives the Deployment
 * back as its user wrote it, which runs a template kanari did not promote: said as a Warning.
 */
function unjudgedNote(resource: KubeObject, workload: DeploymentObject, ref: ObjectRef): EventNote | undefined {
  const template = workload.spec?.template;
  const state = record(record(resource.status).state);
  const versionIn = (release: unknown) => record(release).version;
  const stable = stableVersionOf(resource);
  if (!template || stable === undefined) return undefined;
  const version = versionOf(template);
  if (version === stable) return undefined;
  const result = record(state.result);
  const what =
    versionIn(state.canary) === version
      ? `was being released (${String(state.phase).slice(0, 40)})`
      : versionIn(result.release) === version && result.outcome !== 'Promoted'
        ? `was rolled back (${String(result.outcome).slice(0, 40)})`
        : 'was never released';
  return {
    type: 'Warning',
    reason: 'UnjudgedTemplate',
    message: `${describeRef(ref)} runs its template as you wrote it: version ${version}, which ${what}, not kanari's stable version ${stable}; put stable's template back in it to run stable`,
  };
}
