/** promote, abort, pause, resume, retry, undo: one command each, the same shape. */
import type { Command } from '../server/controller.js';
import type { RolloutView } from '../server/view.js';
import { parseCommandArgs } from './args.js';
import { connect, rolloutPath, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

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
          help: { type: 'boolean', short: 'h' },
        },
        true,
      );
      if (values.help) {
        console.log(`Usage: kanari ${name} ${about.usage} [--json] [--state DIR]\n\n${about.more}\n\n${STATE_HELP}`);
        return EXIT.ok;
      }
      const [rollout, ...extra] = positionals;
      if (!rollout || extra.length > 0)
        throw new UsageError(`${name}: name one rollout (kanari ${name} ${about.usage})`);
      const body = {
        ...(values.full ? { full: true } : {}),
        ...(typeof values.reason === 'string' ? { reason: values.reason } : {}),
      };
      const view = await connect(values.state).post<RolloutView>(rolloutPath(rollout, name), body);
      console.log(values.json ? JSON.stringify(view, null, 2) : `${rollout}: ${view.phase} — ${view.message}`);
      return EXIT.ok;
    },
  };
}
