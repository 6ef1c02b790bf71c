/**
 * A stand-in for the Deployment controller. No pods run; what it keeps, per Deployment, is
 * how many ready pods run each pod template (by template hash), and it writes the status a
 * real one would: `observedGeneration` at once, then after `readyDelayMs` every replica
 * ready — on the NEW template. That is the real controller's behaviour that matters to
 * kanari: a changed template replaces every pod (it rolls everything), unless the
 * Deployment is paused, when it only scales the pods it has. Zero counts are omitted from
 * status, as the real API omits them.
 */
import { createHash } from 'node:crypto';
import { ApiError } from './errors.js';
import type { Kind, Kinds } from './kinds.js';
import { isObject } from './schema.js';
import type { Change, ObjectStore, StoredObject } from './store.js';
import type { Writes } from './writes.js';

const CONTROLLER = { manager: 'kube-controller-manager', apiVersion: 'apps/v1', subresource: 'status' };
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (isObject(value))
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable(value[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** The pod-template-hash of a Deployment's `spec.template` (10 characters of the real label's alphabet). */
export function templateHash(template: unknown): string {
  const digest = createHash('sha256').update(stable(template)).digest();
  return [...digest.subarray(0, 10)].map((b) => SAFE[b % SAFE.length]).join('');
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const key = (o: StoredObject): string => `${o.metadata.namespace}/${o.metadata.name}`;

export class DeploymentController {
  /** Ready pods per template hash, per Deployment (`namespace/name`). */
  private readonly pods = new Map<string, Map<string, number>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly kind: Kind;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: ObjectStore,
    kinds: Kinds,
    private readonly writes: Writes,
    private readonly readyDelayMs: number,
  ) {
    this.kind = kinds.byType('apps/v1', 'Deployment')!;
    this.unsubscribe = store.subscribe((change) => this.observe(change));
  }

  /** How many ready pods of a Deployment run each template hash now. */
  readyPods(namespace: string, name: string): Record<string, number> {
    return Object.fromEntries(this.pods.get(`${namespace}/${name}`) ?? []);
  }

  close(): void {
    this.unsubscribe();
    for (const timer of this.timers.values()) clearTimeout(timer);
  }

  private observe(change: Change): void {
    if (change.kind.group !== 'apps' || change.kind.kind !== 'Deployment') return;
    const id = key(change.object);
    if (change.type === 'DELETED') {
      this.pods.delete(id);
      clearTimeout(this.timers.get(id));
      this.timers.delete(id);
      return;
    }
    const status = isObject(change.object.status) ? change.object.status : {};
    if (status.observedGeneration === change.object.metadata.generation && change.previous) return;
    // The status write is a new change: make it after this one has reached every watcher.
    queueMicrotask(() => this.sync(change.object, false));
    clearTimeout(this.timers.get(id));
    this.timers.set(
      id,
      setTimeout(() => {
        this.timers.delete(id);
        this.sync(change.object, true);
      }, this.readyDelayMs),
    );
  }

  /** Writes status for the Deployment as it is now; with `settle`, its pods first become what spec asks. */
  private sync(seen: StoredObject, settle: boolean): void {
    const current = this.store.get(this.kind, seen.metadata.namespace, seen.metadata.name);
    if (!current || current.metadata.uid !== seen.metadata.uid) return;
    const spec = isObject(current.spec) ? current.spec : {};
    const wanted = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const hash = templateHash(spec.template);
    const pods = this.pods.get(key(current)) ?? new Map<string, number>();
    this.pods.set(key(current), pods);
    if (settle) {
      if (spec.paused === true && pods.size > 0) {
        // Paused: scale the pods it runs, roll nothing.
        const [largest] = [...pods].sort((a, b) => b[1] - a[1])[0]!;
        pods.clear();
        pods.set(largest, wanted);
      } else {
        pods.clear();
        if (wanted > 0) pods.set(hash, wanted);
      }
    }
    const total = [...pods.values()].reduce((a, b) => a + b, 0);
    const updated = pods.get(hash) ?? 0;
    const counts = {
      replicas: total,
      updatedReplicas: updated,
      readyReplicas: total,
      availableReplicas: total,
      unavailableReplicas: Math.max(0, wanted - total),
    };
    const available = total >= wanted;
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      lastUpdateTime: now(),
      lastTransitionTime: now(),
      reason,
      message,
    });
    current.status = {
      observedGeneration: current.metadata.generation,
      ...Object.fromEntries(Object.entries(counts).filter(([, v]) => v !== 0)),
      conditions: [
        condition(
          'Available',
          available ? 'True' : 'False',
          available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          `Deployment ${available ? 'has' : 'does not have'} minimum availability.`,
        ),
        spec.paused === true
          ? condition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused')
          : condition(
              'Progressing',
              'True',
              settle ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
              `ReplicaSet "${current.metadata.name}-${hash}" is progressing.`,
            ),
      ],
    };
    try {
      this.writes.update(
        { kind: this.kind, namespace: current.metadata.namespace, name: current.metadata.name, subresource: 'status' },
        current,
        CONTROLLER,
      );
    } catch (err) {
      // Changed under us: the change that did it has scheduled its own sync.
      if (!(err instanceof ApiError)) throw err;
    }
  }
}
