/**
 * One simulated rollout: the real state machine (`transition`) on the real plan, on a
 * virtual clock in whole seconds. The world answers at once — instances are ready when
 * asked for, the router applies every table — so what remains is what a rollout really
 * waits on: timed pauses, analyses (the real runs, fed synthetic traffic), and people
 * and webhooks, who answer as the scenario says.
 */
import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { RolloutSpec } from '../config/schemas/rollout.js';
import type { SimulationSpec } from '../config/schemas/simulation.js';
import { AnalysisRun } from '../analysis/run.js';
import { Random } from '../analysis/stats/random.js';
import { initialStatus, transition } from '../rollout/machine.js';
import type { GateType, RolloutEvent, RolloutStatus, UntimedEvent } from '../rollout/types.js';
import { SyntheticSource } from './source.js';
import { sharesOf, TrafficGenerator, worse } from './scenario.js';
import type { VersionBehaviour } from './traffic.js';

/** A plan to simulate: a Rollout's spec and the templates its analyses name. */
export interface Variant {
  name: string;
  rollout: RolloutSpec;
  templates: Record<string, AnalysisTemplateSpec>;
}

export interface RunResult {
  outcome: 'promoted' | 'rolledBack' | 'paused' | 'unfinished';
  /** Seconds from the deploy to the rollback's start. */
  rollbackAt?: number;
  /** The first second users met the canary while it was worse than stable (a gate or preview can delay it past the onset). */
  exposedAt?: number;
  /** Why it rolled back, or paused. */
  reason?: string;
  /** Failed requests the canary served beyond stable's error rate. */
  extraErrors: number;
  seconds: number;
  /** The canary's share of requests each second (to find it at the onset). */
  canaryShare: number[];
}

export interface World {
  spec: SimulationSpec;
  stable: VersionBehaviour;
  canary: (second: number) => VersionBehaviour;
}

export async function runOnce(variant: Variant, world: World, seed: number): Promise<RunResult> {
  const { rollout, templates } = variant;
  const { spec } = world;
  const random = new Random(seed);
  const traffic = new TrafficGenerator(spec, random);
  const source = new SyntheticSource();
  const runs = new Map<string, AnalysisRun>();
  const canaryVersion = rollout.canary.version ?? (rollout.stable.version === 'canary' ? 'canary-new' : 'canary');
  let status: RolloutStatus = initialStatus(rollout, 0);
  let rollbackAt: number | undefined;
  let rollbackAsked = false;

  const send = (event: UntimedEvent, at: number): void => {
    const t = transition(rollout, status, { ...event, at } as RolloutEvent);
    if (t.rejected !== undefined) return;
    status = t.status;
    if (status.rollback && rollbackAt === undefined) rollbackAt = at;
    const world = worldEvent(status);
    if (world) send(world, at);
  };

  // People and webhooks, as the scenario has them answer; each answer may open the next gate or pause.
  const answer = (now: number): void => {
    for (let guard = 0; guard < 100; guard++) {
      const before = waitingOn(status);
      const g = status.gate;
      const promote = spec.promote;
      if (g) {
        const a = answerTo(spec, g.type);
        if (now >= g.since + a.after) {
          const passed = a.answer === 'pass';
          send(
            { type: 'webhook', gate: g.type, step: g.step, passed, reason: `the scenario answers ${a.answer}` },
            now,
          );
        }
      } else if (status.paused?.reason === 'step' && promote && now >= status.paused.at + promote.after) {
        send({ type: 'promote' }, now);
      }
      if (waitingOn(status) === before) break;
    }
    const rb = spec.webhooks.rollback;
    const asks = rb?.answer === 'pass' && rollout.webhooks.some((w) => w.type === 'rollback');
    if (asks && !rollbackAsked && status.deployedAt !== undefined && now >= status.deployedAt + rb.after) {
      rollbackAsked = true;
      send({ type: 'webhook', gate: 'rollback', step: status.step, passed: true, reason: 'the scenario asks' }, now);
    }
  };

  send({ type: 'tick' }, 0);
  send({ type: 'deploy', release: { version: canaryVersion, target: rollout.canary } }, 0);
  let extraErrors = 0;
  let exposedAt: number | undefined;
  const canaryShare: number[] = [];
  const limit = Math.ceil(spec.duration / 1000);
  let t = 0;
  for (; t < limit; t++) {
    const now = t * 1000;
    answer(now);
    if ((status.pauseUntil ?? Infinity) <= now || (status.scaleDownAt ?? Infinity) <= now) send({ type: 'tick' }, now);
    if (ended(status, spec)) break;

    const table = status.traffic;
    const bad = world.canary(t);
    const second = traffic.second(t, table, bad, table.stable === canaryVersion ? bad : world.stable);
    source.add(second);
    canaryShare.push(sharesOf(table, spec.traffic.matching ?? 0).canary);
    const served =
      (table.canary === canaryVersion ? second.canary.requests : 0) +
      (table.stable === canaryVersion ? second.stable.requests : 0);
    extraErrors += served * Math.max(0, bad.errorRate - world.stable.errorRate) + traffic.regressed.extraErrors;
    const met = (served > 0 && worse(bad, world.stable)) || traffic.regressed.requests > 0;
    if (exposedAt === undefined && met) exposedAt = t;

    const end = now + 1000;
    for (const entry of status.analyses) {
      if (entry.endedAt !== undefined) {
        runs.delete(entry.id);
        continue;
      }
      let run = runs.get(entry.id);
      if (!run) {
        const deadline = entry.scope === 'step' ? { deadline: entry.startedAt + rollout.progressDeadline } : {};
        run = AnalysisRun.start(
          entry.template,
          templates[entry.template]!,
          entry.scope,
          entry.startedAt,
          { source },
          deadline,
        );
        runs.set(entry.id, run);
      }
      await run.tick(end);
      const verdict = run.verdict();
      if (verdict !== 'Running')
        send({ type: 'analysisVerdict', id: entry.id, verdict, reason: run.report().reason }, end);
    }
  }
  return {
    ...outcomeOf(status),
    ...(rollbackAt !== undefined ? { rollbackAt: rollbackAt / 1000 } : {}),
    ...(exposedAt !== undefined ? { exposedAt } : {}),
    extraErrors,
    seconds: t,
    canaryShare,
  };
}

/** What the world does at once: start what is asked for, stop what is told to stop, apply every table. */
function worldEvent(s: RolloutStatus): UntimedEvent | undefined {
  const starting = s.instances.find((i) => !s.ready.includes(i.id));
  if (starting) return { type: 'instanceReady', id: starting.id };
  if (s.stopping.length > 0) return { type: 'instanceStopped', id: s.stopping[0]! };
  if (s.appliedSeq !== s.trafficSeq) return { type: 'trafficApplied', seq: s.trafficSeq };
  return undefined;
}

function answerTo(spec: SimulationSpec, gate: GateType): { answer: 'pass' | 'fail'; after: number } {
  return spec.webhooks[gate] ?? { answer: 'pass', after: 0 };
}

/** What the rollout waits on now; an answer that changes nothing (a confirm gate told no) leaves it the same. */
function waitingOn(s: RolloutStatus): string {
  return `${s.phase}/${s.step}/${s.gate?.type ?? ''}@${s.gate?.step ?? ''}/${s.paused?.reason ?? ''}/${s.result?.outcome ?? ''}`;
}

/** Over, or waiting on a person or a confirm gate the scenario never says yes to. */
function ended(s: RolloutStatus, spec: SimulationSpec): boolean {
  if (s.result) return true;
  if (s.gate?.type.startsWith('confirm-') && answerTo(spec, s.gate.type).answer === 'fail') return true;
  if (s.phase !== 'Paused') return false;
  return s.paused?.reason !== 'step' || spec.promote === undefined;
}

function outcomeOf(s: RolloutStatus): Pick<RunResult, 'outcome' | 'reason'> {
  if (s.result)
    return s.result.outcome === 'Promoted'
      ? { outcome: 'promoted' }
      : { outcome: 'rolledBack', reason: s.result.reason };
  if (s.phase === 'Paused' && s.paused?.reason === 'inconclusive')
    return { outcome: 'paused', reason: s.paused.message };
  return { outcome: 'unfinished', reason: s.message };
}
