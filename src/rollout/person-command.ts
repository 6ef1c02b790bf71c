/** What a person asks of a rollout, from the CLI, the API or the Kubernetes command annotation. */
import type { UntimedEvent } from './types.js';

export type Command = Extract<UntimedEvent['type'], 'promote' | 'abort' | 'pause' | 'resume' | 'retry' | 'undo'>;
export const COMMANDS: readonly Command[] = ['promote', 'abort', 'pause', 'resume', 'retry', 'undo'];

/** A person's command as the event the engine is sent, with only the options that command takes. */
export function commandEvent(command: Command, options: { full?: boolean; reason?: string }): UntimedEvent {
  if (command === 'promote') return { type: 'promote', ...(options.full ? { full: true } : {}) };
  if (command === 'abort') return { type: 'abort', ...(options.reason ? { reason: options.reason } : {}) };
  return { type: command };
}
