/** `kanari deploy --set`: keys under `canary` laid over the spec's canary target, validated like the file. */
import { checkLimits } from '../config/bounds.js';
import { ConfigError, formatPath } from '../config/errors.js';
import { parseDocuments } from '../config/load.js';
import { target as targetSchema, type TargetSpec } from '../config/schemas/rollout.js';
import { ControllerError } from './controller-error.js';

/**
 * `--set canary.process.command=…`: each key is a path under `canary`, each value YAML
 * (so `canary.process.instances=3` is a number). The result is validated like the file.
 */
export function withOverrides(canary: TargetSpec, set: Record<string, string>): TargetSpec {
  if (Object.keys(set).length === 0) return canary;
  const draft = structuredClone(canary) as Record<string, unknown>;
  // The size comes from the fields again once they are validated (`--set canary.process.instances=3` changes it).
  delete draft.size;
  // Durations are kept in ms once loaded; give them back as the file wrote them for re-validation.
  if (draft.process) {
    const p = draft.process as Record<string, unknown>;
    p.startTimeout = `${p.startTimeout as number}ms`;
    p.stopTimeout = `${p.stopTimeout as number}ms`;
  }
  for (const [key, text] of Object.entries(set)) {
    const path = key.split('.');
    if (path[0] !== 'canary' || path.length < 2)
      throw new ControllerError(
        400,
        `--set ${key}: only keys under canary can be set for a deploy (such as canary.process.command)`,
      );
    // Keys name fields, never what every object inherits: canary.__proto__.x would write to Object.prototype.
    const bad = path.find((part) => part === '__proto__' || part === 'constructor' || part === 'prototype');
    if (bad) throw new ControllerError(400, `--set ${key}: "${bad}" is not a field kanari knows`);
    let node = draft;
    for (const part of path.slice(1, -1)) {
      if (!Object.hasOwn(node, part) || typeof node[part] !== 'object' || node[part] === null) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[path.at(-1)!] = parseScalar(key, text);
  }
  const parsed = targetSchema.safeParse(draft);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ControllerError(400, `--set: canary.${formatPath(issue.path as PropertyKey[])}: ${issue.message}`);
  }
  return parsed.data;
}

function parseScalar(key: string, text: string): unknown {
  // Bounded like any file: a value nested thousands deep is refused, not parsed into an abort.
  const breach = checkLimits(text);
  if (breach) throw new ControllerError(400, `--set ${key}: the value ${breach.message}`);
  let v: unknown;
  try {
    v = parseDocuments(text, `--set ${key}`)[0]?.value;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return text; // not YAML (`a: b: c`): the text it is
  }
  // Scalars and lists as YAML; anything else (`echo a: b` reads as a map) as the text it is.
  return v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v)) ? text : v;
}
