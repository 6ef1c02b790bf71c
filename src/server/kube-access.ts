/**
 * Who may call the operator's API, from Kubernetes' own answers: a bearer token that is not
 * a kanari token (a ServiceAccount's, a user's from the cluster's authenticator) is checked
 * with a TokenReview, and the role of the user it names with SubjectAccessReviews, asked
 * in the namespace of the Rollout the request is about:
 *
 * - viewer: may `get` rollouts.kanari.dev there (what `kanari status` needs);
 * - operator: may `patch` them (commands are patches of the command annotation);
 * - admin: may `update` the Secret that holds kanari's tokens, in the operator's namespace:
 *   whoever may edit it by hand may already make any token, so the API gives them no more.
 *
 * With `audiences`, the TokenReview asks for them and a token made for none of them is
 * refused, as one the API server does not know is.
 *
 * Answers are kept `cacheMs` (10 s), at most `maxEntries` of each, keyed by the token's
 * SHA-256, never the token. A review that fails or takes longer than `timeoutMs` is a 503
 * saying so: never a grant, never a crash.
 */
import type { IncomingMessage } from 'node:http';
import { k8sLabel } from '../config/schemas/kubernetes.js';
import { CRD_GROUP } from '../kube/crd.js';
import type { KubeClient, KubeObject } from '../kube/api.js';
import { HttpError } from '../shared/http.js';
import { requestUrl } from './routes.js';
import { sha256 } from './secrets.js';
import type { Principal, Role, Tokens } from './tokens.js';

export interface KubeAccessOptions {
  client: KubeClient;
  tokens: Tokens;
  /** Where the tokens Secret is: the operator's namespace. */
  secretNamespace: string;
  secretName: string;
  /** Where a rollout named without a namespace is, and whoami and tokens are asked about. */
  home: string;
  /** The one namespace the operator runs; undefined when it runs all (a list is then asked about all). */
  watched?: string;
  /**
   * The audiences a Kubernetes token must be made for (`--token-audience`, as `kubectl create
   * token --audience` makes one), asked in the TokenReview; none: the API server's own.
   */
  audiences?: readonly string[];
  timeoutMs?: number;
  cacheMs?: number;
  maxEntries?: number;
  now?: () => number;
}

interface KubeUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** A bearer as RFC 6750 spells one; ServiceAccount tokens (JWTs) run to a few KiB. */
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9._~+/=-]{16,8192})$/;
const KANARI_TOKEN = /^kanari_/;
/** Reviews asked at once, at most: made-up tokens sent fast must not become as many requests to the API server. */
const MAX_IN_FLIGHT = 32;
/** And for one client (an address; an IPv6 one's /64): one sending made-up tokens fast must leave others room. */
const MAX_IN_FLIGHT_PER_CLIENT = 8;

/** A small map whose entries last `ms`, dropping the oldest past `max`. */
class Expiring<V> {
  private readonly entries = new Map<string, { at: number; value: Promise<V> }>();
  constructor(
    private readonly ms: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  get(key: string, make: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && this.now() - hit.at < this.ms) return hit.value;
    this.entries.delete(key);
    const value = make();
    // A failed review is not kept: the next request asks again.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    this.entries.set(key, { at: this.now(), value });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}

export class KubeAccess {
  private readonly users: Expiring<KubeUser | undefined>;
  private readonly roles: Expiring<Role | undefined>;
  private inFlight = 0;
  /** Reviews waiting on the API server, by the client whose request asked them. */
  private readonly inFlightBy = new Map<string, number>();

  constructor(private readonly o: KubeAccessOptions) {
    const now = o.now ?? Date.now;
    this.users = new Expiring(o.cacheMs ?? 10_000, o.maxEntries ?? 1000, now);
    this.roles = new Expiring(o.cacheMs ?? 10_000, o.maxEntries ?? 1000, now);
  }

  /** The principal of a request: a kanari token's, else a Kubernetes identity's with the role RBAC gives it there. */
  async authenticate(req: IncomingMessage): Promise<Principal> {
    const header = req.headers.authorization;
    const token = BEARER.exec(header ?? '')?.[1];
    if (token === undefined || KANARI_TOKEN.test(token)) return this.o.tokens.authenticateCurrent(header);
    const key = sha256(token).toString('base64url');
    const client = clientOf(req);
    const user = await this.users.get(key, () => this.review(token, client));
    if (!user)
      throw new HttpError(
        401,
        `the bearer token is neither a kanari token nor one the Kubernetes API server accepts${this.o.audiences?.length ? ` for the audience ${this.o.audiences.join(' or ')}` : ''}`,
        {},
        { 'www-authenticate': 'Bearer' },
      );
    const namespace = this.namespaceOf(req.url);
    const role = await this.roles.get(`${key}\0${namespace}`, () => this.roleOf(user, namespace, client));
    if (!role)
      throw new HttpError(
        403,
        `the Kubernetes user ${user.username} may not get rollouts.${CRD_GROUP} ${namespace ? `in namespace ${namespace}` : 'in every namespace; list one namespace with ?namespace=NAMESPACE'}${namespace === this.o.home && requestUrl(req.url).pathname === '/api/v1/whoami' ? '; ask GET /api/v1/whoami?namespace=NAMESPACE about one where it may' : ''}`,
      );
    return { name: user.username, role, tokenId: `kubernetes:${user.uid ?? user.username}` };
  }

  /**
   * The namespace a request is about: its rollout's; for the list and whoami, `?namespace=`,
   * else every one (the list of all) or the home one.
   */
  private namespaceOf(url: string | undefined): string {
    // The path as the router resolves it: `/api/v1/./rollouts/a%2Fb` acts in a, so it is asked about a.
    const { pathname: path, searchParams } = requestUrl(url);
    if (path === '/api/v1/rollouts' || path === '/api/v1/whoami') {
      const asked = searchParams.get('namespace');
      if (asked !== null) {
        // Checked here, before RBAC is asked about it, as the route would check it after.
        if (!k8sLabel.safeParse(asked).success)
          throw new HttpError(
            400,
            `query parameter namespace: must be a namespace (lowercase letters, digits and dashes, at most 63; got ${JSON.stringify(asked.slice(0, 100))})`,
          );
        return asked;
      }
      if (path === '/api/v1/rollouts') return this.o.watched ?? '';
    }
    const ref = /^\/api\/v1\/rollouts\/([^/]+)/.exec(path)?.[1];
    let name: string | undefined;
    try {
      name = ref === undefined ? undefined : decodeURIComponent(ref);
    } catch {
      // Not percent-encoded UTF-8: the route answers 400 for it; its role is asked in the home namespace.
    }
    const slash = name?.indexOf('/') ?? -1;
    return slash > 0 ? name!.slice(0, slash) : this.o.home;
  }

  private async review(token: string, client: string): Promise<KubeUser | undefined> {
    const audiences = this.o.audiences ?? [];
    const answer = await this.ask(client, 'TokenReview', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      metadata: { name: '' },
      spec: { token, ...(audiences.length ? { audiences } : {}) },
    });
    const status = answer.status as
      { authenticated?: unknown; user?: Partial<KubeUser>; audiences?: unknown } | undefined;
    const user = status?.user;
    if (status?.authenticated !== true || typeof user?.username !== 'string' || user.username === '') return undefined;
    // An answer without one of the audiences asked is from an authenticator that did not check them (Kubernetes'
    // TokenReviewStatus.audiences): the token may have been made for any service that could replay it here.
    const granted = Array.isArray(status.audiences) ? status.audiences : [];
    if (audiences.length && !granted.some((a) => audiences.includes(a as string))) return undefined;
    return {
      username: user.username,
      ...(typeof user.uid === 'string' ? { uid: user.uid } : {}),
      ...(Array.isArray(user.groups) ? { groups: user.groups.filter((g) => typeof g === 'string') } : {}),
      ...(user.extra && typeof user.extra === 'object' ? { extra: user.extra } : {}),
    };
  }

  /** The highest role RBAC gives `user` in `namespace`, each asked at once; undefined for none. */
  private async roleOf(user: KubeUser, namespace: string, client: string): Promise<Role | undefined> {
    const rollouts = { group: CRD_GROUP, resource: 'rollouts', namespace };
    const [admin, operator, viewer] = await Promise.all([
      this.allowed(client, user, {
        verb: 'update',
        group: '',
        resource: 'secrets',
        namespace: this.o.secretNamespace,
        name: this.o.secretName,
      }),
      this.allowed(client, user, { ...rollouts, verb: 'patch' }),
      this.allowed(client, user, { ...rollouts, verb: 'get' }),
    ]);
    return admin ? 'admin' : operator ? 'operator' : viewer ? 'viewer' : undefined;
  }

  private async allowed(client: string, user: KubeUser, resourceAttributes: Record<string, string>): Promise<boolean> {
    const answer = await this.ask(client, 'SubjectAccessReview', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      metadata: { name: '' },
      spec: {
        user: user.username,
        ...(user.uid ? { uid: user.uid } : {}),
        ...(user.groups ? { groups: user.groups } : {}),
        ...(user.extra ? { extra: user.extra } : {}),
        resourceAttributes,
      },
    });
    return (answer.status as { allowed?: unknown } | undefined)?.allowed === true;
  }

  /** Creates a review, within `timeoutMs`; a 503 with the reason when the API server does not answer. */
  private async ask(client: string, kind: string, review: KubeObject): Promise<KubeObject> {
    const ms = this.o.timeoutMs ?? 5000;
    const mine = this.inFlightBy.get(client) ?? 0;
    if (mine >= MAX_IN_FLIGHT_PER_CLIENT)
      throw new HttpError(
        503,
        `too many Kubernetes reviews waiting for this client (${MAX_IN_FLIGHT_PER_CLIENT}); try again`,
        {},
        { 'retry-after': '1' },
      );
    if (this.inFlight >= MAX_IN_FLIGHT)
      throw new HttpError(
        503,
        `too many Kubernetes reviews waiting for the API server (${MAX_IN_FLIGHT}); try again`,
        {},
        { 'retry-after': '1' },
      );
    this.inFlight++;
    this.inFlightBy.set(client, mine + 1);
    const asked = this.o.client.create(review);
    // Counted until the API server answers, not until the wait ends: a review given up on still weighs on it.
    const answered = () => {
      this.inFlight--;
      const left = this.inFlightBy.get(client)! - 1;
      if (left === 0) this.inFlightBy.delete(client);
      else this.inFlightBy.set(client, left);
    };
    asked.then(answered, answered);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpError(503, `the Kubernetes API server did not answer a ${kind} within ${ms / 1000} s`)),
        ms,
      );
    });
    try {
      return await Promise.race([asked, late]);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(503, `the Kubernetes API server could not answer a ${kind}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Who a request's reviews are counted against: its peer's address, an IPv6 one by its /64
 * (what one host is usually given). Behind a proxy every client is the proxy: the bound is
 * then the API server's, as it was.
 */
export function clientOf(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '';
  if (!address.includes(':') || address.startsWith('::ffff:')) return address.replace(/^::ffff:/, '');
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
