/**
 * A person's command to a rollout on Kubernetes (promote, abort, pause, resume, retry,
 * undo) travels through the Rollout resource: `kanari promote` (or `kubectl kanari
 * promote`) sets the annotation `kanari.dev/command` to a JSON request with a fresh id;
 * the operator's leader carries it out once and answers in `status.command` with that id.
 * An annotation rather than a spec field: it does not bump the spec's generation, and it
 * needs only `patch` on rollouts, which RBAC can grant per person.
 */
import { z } from 'zod';
import { percent } from '../config/schemas/table.js';

export const COMMAND_ANNOTATION = 'kanari.dev/command';

export const COMMAND_TYPES = ['promote', 'abort', 'pause', 'resume', 'retry', 'undo', 'set-weight'] as const;

export const commandRequest = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9-]{8,64}$/, 'must be 8 to 64 letters, digits or dashes'),
    command: z.enum(COMMAND_TYPES),
    full: z.literal(true).optional(),
    reason: z.string().max(1000).optional(),
    /** set-weight's canary weight, in percent. */
    weight: percent.optional(),
    /** Who asked (the CLI writes the local user name); shown in the history. */
    by: z.string().max(253).optional(),
  })
  .refine((r) => (r.command === 'set-weight') === (r.weight !== undefined), {
    message: 'weight goes with set-weight, and only with it',
    path: ['weight'],
  });
export type CommandRequest = z.output<typeof commandRequest>;

/** What the operator answers, in `status.command`. */
export interface CommandAnswer {
  id: string;
  command: string;
  /** Undefined when it was carried out; the reason when it was refused. */
  refused?: string;
  at: string;
}

/** The request an annotation holds, or why it is not one (annotations are anyone-with-patch's input). */
export function readCommand(
  annotations: Record<string, string> | undefined,
): CommandRequest | { invalid: string } | undefined {
  const text = annotations?.[COMMAND_ANNOTATION];
  if (text === undefined) return undefined;
  if (text.length > 4096) return { invalid: `${COMMAND_ANNOTATION} is longer than 4096 characters` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { invalid: `${COMMAND_ANNOTATION} is not JSON` };
  }
  const parsed = commandRequest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { invalid: `${COMMAND_ANNOTATION}: ${issue.path.join('.') || 'the request'} ${issue.message}` };
  }
  return parsed.data;
}
