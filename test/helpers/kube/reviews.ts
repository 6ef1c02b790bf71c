/**
 * TokenReview and SubjectAccessReview as the real API server answers them: created (201),
 * never stored, the request returned with its `status` filled in. Who a token is and what
 * RBAC allows are the test's to say (`Reviews`), and may change while it runs; a delay
 * stands for a slow authenticator or authorizer webhook.
 */
import { ApiError, badRequest } from './errors.js';
import type { Kind } from './kinds.js';
import { isObject } from './schema.js';

export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  /** The audiences the token was made for (`kubectl create token --audience`); the API server's own unless said. */
  audiences?: string[];
}

/** The audience of a token made with no `--audience`: the API server's own (its --api-audiences). */
export const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

export interface AccessAttributes {
  user: string;
  groups: string[];
  verb: string;
  group: string;
  resource: string;
  namespace: string;
  name: string;
}

export interface Reviews {
  /** Bearer tokens the server knows (ServiceAccounts', users'), and who each is. */
  identities: Record<string, ReviewedUser>;
  /** What RBAC allows; nothing unless said. */
  allow: (a: AccessAttributes) => boolean;
  /** Answer each review this much later (0 unless said). */
  delayMs: number;
  /** Every review asked, for assertions: its kind and spec. */
  asked: { kind: string; spec: Record<string, unknown> }[];
}

export function newReviews(): Reviews {
  return { identities: {}, allow: () => false, delayMs: 0, asked: [] };
}

export async function answerReview(reviews: Reviews, kind: Kind, body: unknown): Promise<unknown> {
  const spec = isObject(body) && isObject(body.spec) ? body.spec : undefined;
  if (!spec) throw new ApiError(422, 'Invalid', `${kind.kind}.${kind.group} "" is invalid: spec: Required value`);
  reviews.asked.push({ kind: kind.kind, spec });
  if (reviews.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, reviews.delayMs));
  const answer = (status: Record<string, unknown>) => ({
    kind: kind.kind,
    apiVersion: `${kind.group}/${kind.version}`,
    metadata: { creationTimestamp: null },
    spec,
    status,
  });
  if (kind.kind === 'TokenReview') {
    if (typeof spec.token !== 'string' || spec.token === '') throw badRequest('token is required for TokenReview');
    const known = Object.hasOwn(reviews.identities, spec.token) ? reviews.identities[spec.token] : undefined;
    if (!known) return answer({ user: {}, error: 'invalid bearer token' });
    const { audiences: made = [API_SERVER_AUDIENCE], ...user } = known;
    // With spec.audiences, the audiences asked for that the token was made for; without, the API server's own.
    const asked = Array.isArray(spec.audiences) ? spec.audiences.filter((a): a is string => typeof a === 'string') : [];
    const audiences = asked.length ? made.filter((a) => asked.includes(a)) : [];
    const valid = asked.length ? audiences.length > 0 : made.includes(API_SERVER_AUDIENCE);
    return answer(
      valid
        ? { authenticated: true, user, audiences }
        : { user: {}, error: '[invalid bearer token, token audiences is invalid for the target audiences]' },
    );
  }
  const attrs = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
  const groups = Array.isArray(spec.groups) ? spec.groups.filter((g): g is string => typeof g === 'string') : [];
  if (typeof spec.user !== 'string' && groups.length === 0)
    throw new ApiError(
      422,
      'Invalid',
      'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user,spec.groups: Invalid value: "": at least one of user or group must be specified',
    );
  if (!attrs === !isObject(spec.nonResourceAttributes))
    throw new ApiError(
      422,
      'Invalid',
      'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.nonResourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
    );
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  const allowed = attrs
    ? reviews.allow({
        user: text(spec.user),
        groups,
        verb: text(attrs.verb),
        group: text(attrs.group),
        resource: text(attrs.resource),
        namespace: text(attrs.namespace),
        name: text(attrs.name),
      })
    : false;
  return answer(allowed ? { allowed: true, reason: 'allowed by the test' } : { allowed: false });
}
