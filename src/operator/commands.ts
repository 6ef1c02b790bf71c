/**
 * A person's command to a Rollout the operator runs (promote, abort, set-weight…, carried in
 * the Rollout's annotation, ../kube/commands.ts): carried out once by the Rollout's engine
 * and answered in `status.command` with its id, or refused with the reason — a set-weight
 * its router cannot hold, or any command while the spec is refused and this replica has no
 * engine for it.
 *
 * Apart from the runner: a command is read from the annotation and answered through the
 * status alone, and the runner only says which engine, store and weights it is carried out with.
 */
import { heldWeightProblem, KUBERNETES } from '../config/capabilities.js';
import { routerNameOf, type KubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import type { KubeObject } from '../kube/api.js';
import { readCommand, type CommandAnswer } from '../kube/commands.js';
import type { RolloutEngine } from '../rollout/engine.js';
import { commandEvent } from '../rollout/person-command.js';
import type { KubeStatusStore } from '../store/kubernetes.js';

/** What a command is carried out with: the Rollout's engine, the store that answers in its status, and its log. */
export interface CommandHands {
  engine: Pick<RolloutEngine, 'send'>;
  store: Pick<KubeStatusStore, 'answeredCommand' | 'answer'>;
  /** A line of the operator's log about this Rollout. */
  log(line: string): void;
  /** The same, once until it changes: an annotation that is not a command stays there, and each resync reads it. */
  say(line: string): void;
}

/**
 * Carries out the command in the resource's annotation, once (its id is answered in the
 * status). `rollout` and its `pods` say which weights its router can hold; without them
 * (a refused spec) set-weight is refused.
 */
export async function carryOutCommand(
  resource: KubeObject,
  hands: CommandHands,
  rollout?: KubernetesRolloutDocument,
  pods?: number,
): Promise<void> {
  const request = readCommand(resource.metadata.annotations);
  if (!request) return;
  if ('invalid' in request) return hands.say(request.invalid);
  const { engine, store } = hands;
  if (store.answeredCommand === request.id) return;
  const problem =
    request.weight === undefined
      ? undefined
      : rollout
        ? heldWeightProblem(KUBERNETES[routerNameOf(rollout.spec.trafficRouting)], request.weight, pods)
        : 'the Rollout is refused as it is now, so which weights its router can send is not known';
  // Who asked goes into the Rollout's log with the command, as under kanari up.
  const actor = request.by === undefined ? {} : { actor: request.by };
  const t = problem
    ? { rejected: `set-weight ${request.weight}: ${problem}` }
    : await engine.send(
        request.command === 'set-weight'
          ? {
              type: 'setWeight',
              weight: request.weight!,
              ...(request.reason ? { reason: request.reason } : {}),
              ...actor,
            }
          : { ...commandEvent(request.command, request), ...actor },
      );
  store.answer({
    id: request.id,
    command: request.command,
    ...(t.rejected ? { refused: t.rejected } : {}),
    at: new Date().toISOString(),
  });
  hands.log(
    `${request.command}${request.by ? ` from ${request.by}` : ''}: ${t.rejected ? `refused: ${t.rejected}` : 'done'}`,
  );
}

/**
 * The answer to a person's command while the Rollout is refused and this replica has no
 * engine for it (a new leader: nothing runs until the spec is fixed), so the person hears
 * why instead of waiting; undefined when there is none or it was answered.
 */
export function refusedCommand(
  resource: KubeObject,
  why: string,
  log: (line: string) => void,
): CommandAnswer | undefined {
  const request = readCommand(resource.metadata.annotations);
  if (!request || 'invalid' in request) return undefined;
  const answered = (resource.status as { command?: { id?: unknown } } | undefined)?.command?.id;
  if (answered === request.id) return undefined;
  log(`${request.command}${request.by ? ` from ${request.by}` : ''}: refused: ${why}`);
  return {
    id: request.id,
    command: request.command,
    refused: `${why}; fix the spec, then ask again`,
    at: new Date().toISOString(),
  };
}
