/**
 * What the API server's refusals and the network's failures become: a `KubeError` whose
 * message is one line a person can act on — the server's own `Status` message when it sent
 * one, the start of the body when it did not, the system's error in a few words.
 */
import { printable } from '../config/errors.js';
import { describeSystemError } from '../shared/system.js';
import { KubeConflict, KubeError, KubeGone } from './api.js';

/** Said when the API server answered something kanari cannot use: not JSON, too large, cut short. */
export const INVALID_RESPONSE = 'InvalidResponse';

/** OpenSSL's errors in their own words, without its codes and source paths: `tlsv13 alert certificate required (TLS)`. */
export function networkError(err: NodeJS.ErrnoException): string {
  const openssl = /^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:([^:]+):/.exec(err.message);
  return openssl ? `${openssl[1]} (TLS)` : describeSystemError(err);
}

export function cutShort(what: string, err: unknown): KubeError {
  return new KubeError(
    0,
    'Unreachable',
    `${what}: the API server's answer was cut short: ${describeSystemError(err)}`,
    { cause: err },
  );
}

export function timeoutError(what: string, timeoutMs: number): KubeError {
  return new KubeError(
    0,
    'Timeout',
    `${what}: no complete answer from the API server${timeoutMs ? ` within ${timeoutMs / 1000} s` : ' in time'}`,
  );
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** The error a refusal stands for: from its `Status` body when it has one, else from the HTTP status. */
export function statusError(status: number, text: string, what: string): KubeError {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // Not a Status: a proxy's HTML page, or nothing. Said below in a few words.
  }
  const reason =
    typeof body.reason === 'string' && /^[A-Za-z]{1,64}$/.test(body.reason)
      ? body.reason
      : (REASONS[status] ?? 'Unknown');
  const message =
    typeof body.message === 'string' && body.message
      ? cut(printable(body.message), 500)
      : `${what}: HTTP ${status} from the API server${text.trim() ? `: ${snippet(text)}` : ''}`;
  if (status === 409) return new KubeConflict(reason, message);
  if (status === 410) return new KubeGone(message);
  return new KubeError(status, reason, message);
}

export function snippet(text: string): string {
  return cut(printable(text.trim().replace(/\s+/g, ' ')), 200);
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / 1024 / 1024)} MB` : `${Math.round(bytes / 1024)} KB`;
}
