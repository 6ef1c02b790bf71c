/** promote, abort, pause, resume, retry, undo: one command each, the same shape. */
import type { Command } from '../server/controller.js';
import type { RolloutView } from '../server/view.js';
import { MAX_TIMER_MS, parseDuration } from '../config/duration.js';
import { parseCommandArgs } from './args.js';
import {
  CLUSTER_HELP,
  CLUSTER_OPTIONS,
  clusterTarget,
  openCluster,
  rolloutName,
  type ClusterTarget,
} from './cluster.js';
import { sendCommand, type CommandAsked } from './cluster-command.js';
import { clusterView, isRunning } from './cluster-view.js';
import { connect, rolloutPath, STATE_HELP, STATE_OPTION } from './connect.js';
import { CommandError, EXIT, UsageError } from './exit.js';

const ABOUT: Record<Command, { summary: string; usage: string; more: string }> = {
  promote: {
    summary: 'move a rollout past its current pause or step (--full: to 100% now)',
    usage: 'ROLLOUT [--full]',
    more: 'Ends a pause, or accepts an Inconclusive analysis, and goes on with the plan. A step whose\nanalysis is still running, or was Stopped, is not passed; --full skips every remaining step and analysis.',
  },
  abort: {
    summary: 'roll a rollout back to stable and stop there',
    usage: 'ROLLOUT [--reason TEXT]',
    more: 'Traffic goes back to stable first, then the canary is stopped. `kanari retry` tries again.',
  },
  pause: {
    summary: 'hold a rollout where it is (a timed pause keeps its time left)',
    usage: 'ROLLOUT',
    more: 'Analyses keep running and can still roll it back.',
  },
  resume: {
    summary: 'go on with a paused rollout',
    usage: 'ROLLOUT',
    more: 'After a pause on an Inconclusive or Stopped analysis, the analysis runs again.',
  },
  retry: {
    summary: 'roll out again the version that was rolled back or aborted',
    usage: 'ROLLOUT',
    more: 'The same version and target, through the whole plan again.',
  },
  undo: {
    summary: 'roll out the previous stable version again, through the same plan',
    usage: 'ROLLOUT',
    more: 'Undoes the last promotion the careful way: the old version is the canary.',
  },
};

export function command(name: Command) {
  const about = ABOUT[name];
  return {
    summary: about.summary,
    async run(argv: string[]): Promise<number> {
      const { values, positionals } = parseCommandArgs(
        name,
        argv,
        {
          ...(name === 'promote' ? { full: { type: 'boolean' } } : {}),
          ...(name === 'abort' ? { reason: { type: 'string' } } : {}),
          json: { type: 'boolean' },
          ...STATE_OPTION,
          ...CLUSTER_OPTIONS,
          timeout: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
        true,
      );
      if (values.help) {
        console.log(
          `Usage: kanari ${name} ${about.usage} [--json] [--state DIR | -n NS ... [--timeout D]]\n\n${about.more}\n\n${STATE_HELP}\n\n${CLUSTER_HELP}\n  --timeout D           how long to wait for the operator's answer (default 30s)`,
        );
        return EXIT.ok;
      }
      const [rollout, ...extra] = positionals;
      if (!rollout || extra.length > 0)
        throw new UsageError(`${name}: name one rollout (kanari ${name} ${about.usage})`);
      const body = {
        ...(values.full ? { full: true as const } : {}),
        ...(typeof values.reason === 'string' ? { reason: values.reason } : {}),
      };
      return sendControl(rollout, { command: name, ...body }, name, values);
    },
  };
}

/**
 * Sends a control to a rollout — on a cluster through the Rollout resource, else to the
 * controller's `sub` route — and prints the answer; `asked` without its command is the body.
 */
export async function sendControl(
  rollout: string,
  asked: CommandAsked,
  sub: string,
  values: Parameters<typeof clusterTarget>[1] & ControlFlags,
): Promise<number> {
  const { command, ...body } = asked;
  const target = clusterTarget(command, values);
  if (target) return onCluster(target, rolloutName(command, rollout), asked, values);
  if (values.timeout !== undefined)
    throw new UsageError(`${command}: --timeout is how long to wait for the operator, on a cluster (-n, --context…)`);
  const view = await connect(values.state).post<RolloutView>(rolloutPath(rollout, sub), body);
  console.log(values.json ? JSON.stringify(view, null, 2) : `${rollout}: ${view.phase} — ${view.message}`);
  return EXIT.ok;
}

interface ControlFlags {
  json?: boolean;
  timeout?: string;
}

/** The command through the Rollout resource: the operator's answer printed as the controller's would be. */
async function onCluster(
  target: ClusterTarget,
  name: string,
  asked: CommandAsked,
  flags: ControlFlags,
): Promise<number> {
  const timeoutMs = flags.timeout === undefined ? 30_000 : parseDuration(flags.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS)
    throw new UsageError(
      `${asked.command}: --timeout must be a duration such as 30s or 2m (got ${JSON.stringify(flags.timeout)})`,
    );
  const cluster = openCluster(target);
  try {
    const { answer, resource } = await sendCommand(cluster, name, asked, timeoutMs);
    if (answer.refused) throw new CommandError(`${name}: ${asked.command} refused: ${answer.refused}`);
    const view = clusterView(resource);
    if (flags.json) console.log(JSON.stringify(view, null, 2));
    else console.log(`${name}: ${isRunning(view) ? `${view.phase} — ` : ''}${view.message}`);
    return EXIT.ok;
  } finally {
    cluster.client.close();
  }
}
