/**
 * What `kanari status` shows of a Rollout resource: the view standalone `kanari status`
 * draws, made from the engine's state the operator writes in `status.state`, with the
 * resource's conditions and the answer to the last command. A status is anyone-with-patch's
 * input: every field the view reads is checked first, and one edited into nonsense is said
 * with its path, never drawn half or thrown as a stack.
 */
import { z } from 'zod';
import { formatPath, printable } from '../config/errors.js';
import { kubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import { versionLabel } from '../config/schemas/rollout.js';
import { describeRef, type KubeObject } from '../kube/api.js';
import { engineDocument } from '../operator/release.js';
import { PHASES, type RolloutStatus } from '../rollout/types.js';
import { rolloutView, type RolloutView } from '../server/view.js';
import { CommandError } from './exit.js';
import { renderRollout } from './render.js';

const time = z.number().finite();
const count = z.number().int().min(0);
const percent = z.number().min(0).max(100);
const version = z.looseObject({ version: versionLabel });

/** The parts of the engine's state the view reads (the rest is the operator's alone). */
const savedState = z.looseObject({
  phase: z.enum(PHASES),
  revision: count,
  stable: version,
  canary: version.optional(),
  step: count,
  pools: z.looseObject({ from: count, to: count }).optional(),
  pauseUntil: time.optional(),
  paused: z
    .looseObject({
      reason: z.enum(['manual', 'step', 'inconclusive', 'stopped']),
      remaining: time.optional(),
      message: z.string(),
    })
    .optional(),
  gate: z.looseObject({ type: z.string(), since: time, message: z.string() }).optional(),
  traffic: z.looseObject({ weights: z.looseObject({ canary: percent, baseline: percent }) }),
  analyses: z.array(
    z.looseObject({
      id: z.string(),
      template: z.string(),
      scope: z.enum(['step', 'background']),
      step: count,
      verdict: z.string(),
      reason: z.string().optional(),
      startedAt: time,
      endedAt: time.optional(),
    }),
  ),
  result: z
    .looseObject({
      outcome: z.string(),
      release: version,
      reason: z.string(),
      at: time,
    })
    .optional(),
  message: z.string(),
  updatedAt: time,
});

const condition = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

const commandAnswer = z.looseObject({
  id: z.string(),
  command: z.string(),
  refused: z.string().optional(),
  at: z.string(),
});

const resourceStatus = z.looseObject({
  message: z.string().optional(),
  conditions: z.array(condition).optional(),
  command: commandAnswer.optional(),
  state: z.unknown().optional(),
});

export type ConditionView = z.output<typeof condition>;
export type CommandAnswerView = z.output<typeof commandAnswer>;

/** A Rollout the operator runs: standalone's view, plus where it is and what Kubernetes users read. */
export interface RunningView extends RolloutView {
  namespace: string;
  conditions: ConditionView[];
  command?: CommandAnswerView;
}

/** A Rollout the operator has not taken on (none running, or one it refuses): no phase yet. */
export interface WaitingView {
  name: string;
  namespace: string;
  message: string;
  conditions: ConditionView[];
}

export type ClusterView = RunningView | WaitingView;

export function isRunning(v: ClusterView): v is RunningView {
  return 'phase' in v;
}

/** The view of a Rollout resource as read from the cluster; a `CommandError` when it cannot be read. */
export function clusterView(resource: KubeObject, now = Date.now()): ClusterView {
  const name = resource.metadata.name;
  const namespace = resource.metadata.namespace ?? 'default';
  const what = describeRef({ kind: 'Rollout', namespace, name });
  const unreadable = (path: readonly PropertyKey[], message: string) =>
    new CommandError(
      `${what}: ${formatPath(path)}: ${message}; the operator writes this status, so it was edited by hand or written by another version of kanari`,
    );
  const status = resourceStatus.safeParse(resource.status ?? {});
  if (!status.success) {
    const issue = status.error.issues[0]!;
    throw unreadable(['status', ...issue.path], issue.message);
  }
  const { conditions = [], command, state } = status.data;
  if (state === undefined)
    return {
      name,
      namespace,
      message:
        status.data.message ?? 'no status yet: the kanari operator has not taken it on (is it running and leading?)',
      conditions,
    };
  const saved = savedState.safeParse(state);
  if (!saved.success) {
    const issue = saved.error.issues[0]!;
    throw unreadable(['status', 'state', ...issue.path], issue.message);
  }
  const s = saved.data as unknown as RolloutStatus;
  const parsed = kubernetesRolloutDocument.safeParse(resource);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CommandError(`${what} is not valid: ${formatPath(issue.path)}: ${issue.message}`);
  }
  const { spec } = parsed.data;
  // The view needs only the plan (to number the steps); the stable version's target is the operator's business.
  const document = engineDocument(name, resource.spec as Record<string, unknown>, {
    version: s.stable.version,
    target: { kubernetes: { template: {}, service: spec.service.name, namespace, replicas: 1 }, size: 1 },
  });
  return {
    ...rolloutView(document, s, now, () => undefined),
    listen: `service/${spec.service.name}`,
    namespace,
    conditions,
    ...(command ? { command } : {}),
  };
}

/** The view as standalone draws it, with the conditions that hold and the last command's answer. */
export function renderClusterView(view: ClusterView, now = Date.now()): string {
  // Anyone who may write the status could put terminal escapes or line breaks in it: every text is shown as text.
  const v = asText(view);
  const lines = isRunning(v) ? [renderRollout(v, now)] : [`${v.name}  not running  ${v.message}`];
  const held = v.conditions.filter((c) => c.status === 'True');
  if (held.length > 0)
    lines.push(`  conditions ${held.map((c) => (c.reason ? `${c.type} (${c.reason})` : c.type)).join(', ')}`);
  if (isRunning(v) && v.command)
    lines.push(
      `  command   ${v.command.command} ${v.command.refused ? `refused: ${v.command.refused}` : 'done'} at ${v.command.at}`,
    );
  return lines.join('\n');
}

function asText<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return value.map(asText) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, asText(x)])) as T;
  return value;
}
