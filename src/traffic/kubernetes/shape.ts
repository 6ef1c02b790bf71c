/**
 * Objects read back from the cluster are whatever someone last wrote: each router checks
 * the parts it reads against a schema first, so a hostile or hand-edited object is a
 * refusal that names the field, never a crash deeper in.
 */
import type { z } from 'zod';
import { formatPath, printable } from '../../config/errors.js';
import { TrafficRefused } from '../../rollout/seams/traffic.js';

export function readShape<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new TrafficRefused(printable(`${what} ${formatPath(issue.path)}: ${issue.message}`));
}
