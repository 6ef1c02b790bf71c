import { z } from 'zod';

export const API_VERSION = 'kanari.dev/v1alpha1';

/** A DNS-label-like name: what services, rollouts and flags are called. */
export const name = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be lowercase letters, digits and dashes (at most 63), starting and ending with a letter or digit',
  );

export const metadata = z.strictObject({ name });

export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** 0 asks the system for a free port. */
export const port = z
  .number()
  .int('must be a whole number')
  .min(0, 'must be a port between 0 and 65535')
  .max(65535, 'must be a port between 0 and 65535');

export interface HostPort {
  host: string;
  port: number;
}

/** `8080`, `"0.0.0.0:8080"` or `"[::1]:8080"`. */
export const listenAddress = z.union([
  port.transform((p): HostPort => ({ host: '0.0.0.0', port: p })),
  z.string().transform((text, ctx): HostPort => {
    const parsed = parseHostPort(text);
    if (!parsed) {
      ctx.addIssue({ code: 'custom', message: 'must be a port or host:port', input: text });
      return z.NEVER;
    }
    return parsed;
  }),
]);

export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

/** 127.0.0.0/8, ::1 (bracketed as in a URL, or not) and localhost: addresses no other host reaches. */
export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/.test(host);
}

/** Exactly one of `keys` may be set on the object; used for "one of these forms" maps. */
export function exactlyOne<T extends object>(keys: readonly (keyof T & string)[]) {
  return (value: T, ctx: z.core.$RefinementCtx<T>) => {
    const set = keys.filter((k) => value[k] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `set exactly one of ${keys.join(', ')}${set.length > 1 ? ` (got ${set.join(' and ')})` : ''}`,
        input: value,
      });
    }
  };
}
