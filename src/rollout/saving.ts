/**
 * How the engine writes to its store, and what it does when the store refuses writes (a
 * full disk, an I/O error): a transition that takes users off versions is acted on
 * anyway and saved with the next write that works; one that starts a version or moves
 * users onto one waits, since a restart would resume from before it and undo it.
 */
import { movesUsersOnto } from '../config/moves.js';
import { describeSystemError } from '../shared/system.js';
import { routingTableFor } from './routing-table.js';
import type { EventRecord, StatusStore } from './seams/store.js';
import type { RolloutStatus, TrafficState, Transition, UntimedEvent } from './types.js';

/** Unsaved events kept at most (a day of one a second): the oldest go first. */
const MAX_UNSAVED = 100_000;

export class Saving {
  /** Why the store refuses writes, since when; undefined while it takes them. */
  private failure?: { reason: string; since: number; refusalSaid?: boolean };
  /** Events of transitions acted on while the store refused them, written with the next save that works. */
  private readonly unsaved: EventRecord[] = [];
  /** The last status this process saved: what a restart resumes from (before one is saved, the status it started with). */
  private lastSaved?: RolloutStatus;
  /** Set by the engine when its store writes behind. */
  barrier?: DurableBarrier;

  constructor(
    private readonly store: StatusStore,
    private readonly name: string,
    private readonly clock: () => number,
    private readonly log: (line: string) => void,
  ) {}

  get error(): { error: string; since: number } | undefined {
    return (
      this.failure && { error: `cannot save the rollout's state: ${this.failure.reason}`, since: this.failure.since }
    );
  }

  /**
   * Runs one write; false when the store refused it. The first refusal and the first
   * write that works again are logged, so a full disk is said once, loudly.
   */
  write(work: () => void): boolean {
    try {
      work();
    } catch (err) {
      if (!this.failure) {
        this.failure = { reason: describeSystemError(err), since: this.clock() };
        this.log(
          `the store cannot be written: ${this.failure.reason}; users can still be taken off versions, nothing moves forward until it can`,
        );
      }
      return false;
    }
    if (this.failure) this.log('the store takes writes again');
    this.failure = undefined;
    return true;
  }

  /** Saves a transition with its events; why it must wait instead, when the store refuses it and it moves forward. */
  transition(e: UntimedEvent, at: number, before: RolloutStatus, t: Transition): string | undefined {
    const s = t.status;
    const rows = eventRows(e, at, before, t);
    const saved = this.write(() => this.store.saveTransition(this.name, [...this.unsaved, ...rows], s));
    if (saved) {
      this.unsaved.length = 0;
      this.lastSaved = s;
      this.barrier?.saved(s);
      return undefined;
    }
    const failure = this.failure!;
    // Against what a restart would resume from too: unsaved steps that each move nobody
    // forward may add up to one that does.
    const onto = forward(before, s) ?? (this.lastSaved && forward(this.lastSaved, s));
    if (onto) {
      const refused = `${e.type === 'deploy' ? `deploying ${e.release.version}` : e.type} cannot be saved (${failure.reason}) and ${onto}: it waits until the store can be written, so that a restart cannot undo it`;
      if (!failure.refusalSaid) this.log(refused);
      failure.refusalSaid = true;
      return refused;
    }
    this.unsaved.push(...rows);
    if (this.unsaved.length > MAX_UNSAVED) this.unsaved.splice(0, this.unsaved.length - MAX_UNSAVED);
    if (before.phase !== s.phase || before.trafficSeq !== s.trafficSeq)
      this.log(
        `acting on "${s.message}" although it is NOT saved (${failure.reason}); a restart before the store takes writes again would resume from before it`,
      );
    return undefined;
  }
}

/**
 * Behind-writing stores (`StatusStore.durable`): the status a restart would resume from is
 * the last durable one, so what moves users forward from it waits until it is durable.
 */
export class DurableBarrier {
  constructor(
    private readonly store: StatusStore,
    private durableNow: RolloutStatus,
  ) {}

  private saves = 0;
  private durableSave = 0;

  /** After each save of `s`: `s` is durable once the store says so. */
  saved(s: RolloutStatus): void {
    if (!this.store.durable) return;
    const n = ++this.saves;
    void this.store.durable().then(() => {
      if (n <= this.durableSave) return;
      this.durableSave = n;
      this.durableNow = s;
    });
  }

  /**
   * Undefined when `now` may be acted on at once: the store is durable on return, or `now`
   * moves nobody forward from the last durable status (a rollback never waits). Otherwise
   * a promise that resolves once it is durable.
   */
  waitFor(now: RolloutStatus): Promise<void> | undefined {
    if (!this.store.durable || this.durableSave === this.saves) return undefined;
    if (!forward(this.durableNow, now)) return undefined;
    return this.store.durable().then(() => undefined);
  }
}

/** The event log rows a transition adds: the event (not ticks or acknowledgements), analyses stopped, a status change, a result, announcements. */
function eventRows(e: UntimedEvent, at: number, before: RolloutStatus, t: Transition): EventRecord[] {
  const s = t.status;
  const rows: EventRecord[] = [];
  const row = (type: string, data: Record<string, unknown>) => rows.push({ revision: s.revision, at, type, data });
  if (e.type !== 'tick' && e.type !== 'trafficApplied') row(e.type, { ...e });
  // A judge's verdict arrives as an analysisVerdict event; a run the rollout stopped has none, so it gets its own row.
  for (const a of s.analyses)
    if (a.verdict === 'Stopped' && before.analyses.find((b) => b.id === a.id)?.verdict !== 'Stopped')
      row('analysisStopped', { id: a.id, template: a.template, reason: a.reason });
  if (before.phase !== s.phase || before.step !== s.step || before.trafficSeq !== s.trafficSeq)
    row('status', { phase: s.phase, step: s.step, weights: s.traffic.weights, message: s.message });
  if (s.result && s.result.at !== before.result?.at) {
    const r = s.result;
    row('result', {
      outcome: r.outcome,
      version: r.release.version,
      reason: r.reason,
      seconds: (r.at - (s.deployedAt ?? r.at)) / 1000,
    });
  }
  for (const a of t.actions) row('announce', { moment: a.moment, message: a.message });
  return rows;
}

/**
 * What in `after` must be saved before it is acted on: starting a version, or moving
 * users onto one (judged as the router judges a table it cannot save).
 */
function forward(before: RolloutStatus, after: RolloutStatus): string | undefined {
  const started = after.instances.find((i) => !before.instances.some((b) => b.id === i.id));
  if (started) return `it starts ${started.id}`;
  const onto = movesUsersOnto(tableOf(before.traffic), tableOf(after.traffic));
  return onto && `it moves users onto ${onto.version} (${onto.why})`;
}

/** The routing table a traffic state makes, with each instance's processes named rather than addressed. */
function tableOf(t: TrafficState) {
  return routingTableFor(t, (id) => Array.from({ length: 64 }, (_, i) => `${id}[${i}]`));
}
