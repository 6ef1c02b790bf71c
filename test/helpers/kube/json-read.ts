/**
 * Reading an API server's JSON as a user may have edited it: plain GETs, and readers that
 * name the field that is wrong, so the weight exporter fails with a reason, never a crash.
 */
export class ExporterError extends Error {}

/** GETs the API server's JSON; 404 is undefined. */
export type Get = (path: string) => Promise<unknown>;

export function apiGet(base: string): Get {
  return async (path) => {
    const res = await fetch(`${base.replace(/\/+$/, '')}${path}`);
    if (res.status === 404) return undefined;
    const text = await res.text();
    if (!res.ok) throw new ExporterError(`GET ${path}: ${res.status} ${text.slice(0, 200)}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ExporterError(`GET ${path}: ${res.status} with a body that is not JSON`);
    }
  };
}

// Readers of untrusted JSON: each names the path that is wrong.
export type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
export function obj(x: unknown, where: string): Json {
  if (!isObj(x)) throw new ExporterError(`${where} is not an object`);
  return x;
}
export function list(x: unknown, where: string): unknown[] {
  if (x === undefined || x === null) return [];
  if (!Array.isArray(x)) throw new ExporterError(`${where} is not a list`);
  return x;
}
export function text(x: unknown, where: string): string {
  if (typeof x !== 'string' || x === '') throw new ExporterError(`${where} is not a non-empty string`);
  return x;
}
export function count(x: unknown, where: string, fallback: number): number {
  if (x === undefined || x === null) return fallback;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0)
    throw new ExporterError(`${where} is ${JSON.stringify(x)}, not a whole number ≥ 0`);
  return x;
}
export function labels(x: unknown, where: string): Record<string, string> {
  const o = x === undefined ? {} : obj(x, where);
  for (const [k, v] of Object.entries(o)) text(v, `${where}.${k}`);
  return o as Record<string, string>;
}

export async function must(get: Get, path: string): Promise<Json> {
  const o = await get(path);
  if (o === undefined) throw new ExporterError(`${path} does not exist`);
  return obj(o, path);
}
