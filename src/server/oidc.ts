/**
 * Single sign-on with OpenID Connect (authorization code with PKCE, S256), as a relying
 * party built on openid-client. A person's role comes from one claim of theirs (their groups,
 * say) through the mapping the controller is configured with; no mapping, no session. What a
 * sign-in in flight needs (state, nonce, PKCE verifier) is bound to the browser that started
 * it by an HttpOnly cookie, for 10 minutes, so a callback from any other browser is refused:
 * under `kanari up` it stays in this process's memory, used once, keyed by a random value in
 * the cookie; on a cluster, where the callback may land on another replica, it is the
 * cookie itself, sealed (AES-256-GCM) with a key every replica shares (`SealedFlows`).
 */
import crypto from 'node:crypto';
import * as client from 'openid-client';
import { z } from 'zod';
import { sameSecret } from './secrets.js';
import type { Role } from './tokens.js';

/** The file `kanari up --oidc FILE` reads (YAML or JSON). */
export const oidcSettings = z.strictObject({
  issuer: z.url().describe("the provider's issuer URL: its discovery document is under it"),
  clientId: z.string().min(1).max(200),
  clientSecretFile: z
    .string()
    .optional()
    .describe('a file holding the client secret; else $KANARI_OIDC_CLIENT_SECRET; else a public client'),
  redirectUrl: z.url().optional().describe('default: <the API address>/auth/oidc/callback'),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).default(['openid', 'email', 'profile']),
  actorClaim: z.string().min(1).default('email').describe('recorded as the actor, prefixed oidc:'),
  roleClaim: z.string().min(1).describe('a claim holding a string or a list of them, e.g. groups'),
  roles: z.strictObject({
    admin: z.array(z.string()).default([]),
    operator: z.array(z.string()).default([]),
    viewer: z.array(z.string()).default([]),
  }),
  label: z.string().max(60).optional().describe('the button says "Sign in with <label>" (default: the issuer host)'),
});
export type OidcSettings = z.output<typeof oidcSettings>;

/** What the browser routes need of single sign-on. */
export interface SingleSignOn {
  label: string;
  /** Where to send the browser, and the id of the flow for its cookie. */
  start(): Promise<{ url: string; id: string }>;
  /** Who signed in, from the callback's query and the flow cookie; a SignInRefused for a person to read, else a bug or the provider's fault. */
  finish(flowId: string | undefined, query: URLSearchParams): Promise<{ actor: string; role: Role }>;
}

/** Single sign-on said no, for a reason a person may read: no secret, no provider's raw text. */
/**
 * Why a sign-in made no session, as the code the browser is sent back with
 * (`/?sign-in-error=CODE`): the sign-in page shows its own fixed text for each code, so a
 * link made elsewhere cannot put words of its choosing on this origin's page. The detail
 * (the message) goes to the controller's log only.
 */
export type SignInError = 'sso-off' | 'provider' | 'flow' | 'state' | 'actor' | 'role' | 'invalid' | 'link' | 'busy';

export class SignInRefused extends Error {
  constructor(
    readonly code: SignInError,
    detail: string,
  ) {
    super(detail);
  }
}

const FLOW_LIFETIME_MS = 10 * 60_000;
/** Sign-ins in flight beyond this drop the oldest: starting flows in a loop cannot fill memory. */
const MAX_FLOWS = 1000;
/** Checked before its roles: the highest role a person's claim maps to is theirs. */
const BY_RANK: readonly Role[] = ['admin', 'operator', 'viewer'];

export interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  expiresAt: number;
}

/** Where flows in flight are kept until their callback: what goes in the browser's cookie, and the flow back from it. */
export interface FlowKeeper {
  keep(flow: Flow): Promise<string>;
  /** The flow a cookie's value names, if any (expired or not: the caller checks). */
  take(cookie: string): Promise<Flow | undefined>;
}

/** Flows in this process's memory, each taken once: the cookie holds a random key to one. */
export class FlowsInMemory implements FlowKeeper {
  private readonly flows = new Map<string, Flow>();

  constructor(private readonly now: () => number) {}

  keep(flow: Flow): Promise<string> {
    for (const [id, f] of this.flows) if (f.expiresAt <= this.now()) this.flows.delete(id);
    if (this.flows.size >= MAX_FLOWS) this.flows.delete(this.flows.keys().next().value!);
    const id = crypto.randomBytes(32).toString('base64url');
    this.flows.set(id, flow);
    return Promise.resolve(id);
  }

  take(cookie: string): Promise<Flow | undefined> {
    const flow = this.flows.get(cookie);
    this.flows.delete(cookie);
    return Promise.resolve(flow);
  }
}

/**
 * Flows sealed into the cookie itself with AES-256-GCM under a key every replica reads (the
 * sessions Secret's): nothing is written per flow, so starting sign-ins in a loop costs the
 * API server nothing, and a callback is finished by whichever replica it reaches. A sealed
 * flow is not used up by its callback (the cookie is cleared, and the provider takes each
 * authorization code once); it is good for its 10 minutes only.
 */
export class SealedFlows implements FlowKeeper {
  private static readonly AAD = Buffer.from('kanari oidc flow v1');

  constructor(private readonly key: () => Promise<Buffer>) {}

  async keep(flow: Flow): Promise<string> {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', await this.key(), iv).setAAD(SealedFlows.AAD);
    const sealed = Buffer.concat([cipher.update(JSON.stringify(flow), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
  }

  async take(cookie: string): Promise<Flow | undefined> {
    const raw = Buffer.from(cookie, 'base64url');
    if (cookie.length > 1024 || raw.length < 29) return undefined;
    try {
      const decipher = crypto
        .createDecipheriv('aes-256-gcm', await this.key(), raw.subarray(0, 12))
        .setAAD(SealedFlows.AAD)
        .setAuthTag(raw.subarray(12, 28));
      const json = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const flow = JSON.parse(json) as Partial<Flow>;
      const strings = [flow.state, flow.nonce, flow.verifier].every((v) => typeof v === 'string');
      return strings && typeof flow.expiresAt === 'number' ? (flow as Flow) : undefined;
    } catch {
      // Not sealed with this key: made up, changed, or from before the key changed.
      return undefined;
    }
  }
}

export class OidcSignIn implements SingleSignOn {
  readonly label: string;
  private discovered?: Promise<client.Configuration>;
  private readonly flows: FlowKeeper;
  private redirectUrl?: string;

  constructor(
    private readonly settings: OidcSettings,
    private readonly clientSecret: string | undefined,
    private readonly options: {
      allowInsecureRequestsForTests?: boolean;
      /** A test's fetch, to tamper with the provider's answers on their way in. */
      fetchForTests?: client.CustomFetch;
      now?: () => number;
      /** Where flows in flight are kept (this process's memory unless said). */
      flows?: FlowKeeper;
    } = {},
  ) {
    this.label = `Sign in with ${settings.label ?? new URL(settings.issuer).host}`;
    this.redirectUrl = settings.redirectUrl;
    this.flows = options.flows ?? new FlowsInMemory(() => this.now());
  }

  /** The API's own address, once it listens: the redirect URL when none was configured. */
  listeningAt(apiUrl: string): void {
    this.redirectUrl ??= `${apiUrl}/auth/oidc/callback`;
  }

  async start(): Promise<{ url: string; id: string }> {
    const config = await this.config();
    const flow: Flow = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier: client.randomPKCECodeVerifier(),
      expiresAt: this.now() + FLOW_LIFETIME_MS,
    };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.redirect(),
      scope: this.settings.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    return { url: url.href, id: await this.flows.keep(flow) };
  }

  async finish(flowId: string | undefined, query: URLSearchParams): Promise<{ actor: string; role: Role }> {
    const flow = flowId === undefined ? undefined : await this.flows.take(flowId);
    const error = query.get('error');
    if (error !== null)
      throw new SignInRefused('provider', `the identity provider said ${/^[\w.-]{1,40}$/.test(error) ? error : 'no'}`);
    if (!flow || flow.expiresAt <= this.now())
      throw new SignInRefused(
        'flow',
        'this sign-in was not started in this browser, or took over 10 minutes: start again',
      );
    const state = query.get('state') ?? '';
    if (!sameSecret(state, flow.state))
      throw new SignInRefused('state', 'the answer is for another sign-in (state does not match): start again');
    const config = await this.config();
    const callback = new URL(this.redirect());
    for (const [k, v] of query) callback.searchParams.append(k, v);
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    const idClaims = tokens.claims()!;
    let claims: Record<string, unknown> = idClaims;
    const { actorClaim, roleClaim } = this.settings;
    // Many providers put only `sub` in the ID token and the rest behind the userinfo endpoint.
    if (!(actorClaim in claims && roleClaim in claims) && config.serverMetadata().userinfo_endpoint)
      claims = { ...(await client.fetchUserInfo(config, tokens.access_token, idClaims.sub)), ...idClaims };
    return { actor: this.actorOf(claims), role: this.roleOf(claims) };
  }

  private actorOf(claims: Record<string, unknown>): string {
    const value = claims[this.settings.actorClaim];
    if (typeof value !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(value))
      throw new SignInRefused('actor', `the identity provider sent no usable ${this.settings.actorClaim} claim`);
    // At some providers a person types any email into their profile: one the provider says it
    // has not verified would let them act in the history under a colleague's name. (A provider
    // that does not say either way is taken at its word, as most enterprise ones verify.)
    if (this.settings.actorClaim === 'email' && claims.email_verified === false)
      throw new SignInRefused('actor', `the identity provider has not verified the email ${value}`);
    return `oidc:${value}`;
  }

  private roleOf(claims: Record<string, unknown>): Role {
    const raw = claims[this.settings.roleClaim];
    const values = new Set((Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string'));
    const role = BY_RANK.find((r) => this.settings.roles[r].some((v) => values.has(v)));
    if (role === undefined)
      throw new SignInRefused(
        'role',
        `your account has no role here: none of its ${this.settings.roleClaim} is mapped to one (ask an admin)`,
      );
    return role;
  }

  private redirect(): string {
    if (this.redirectUrl === undefined) throw new Error('the API does not listen yet: no redirect URL');
    return this.redirectUrl;
  }

  /** The provider's metadata, discovered at the first sign-in and kept; a failed discovery is tried again next time. */
  private config(): Promise<client.Configuration> {
    this.discovered ??= client
      .discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        this.clientSecret,
        this.clientSecret === undefined ? client.None() : undefined,
        {
          // The role comes from the ID token: its signature is checked against the provider's keys, not only TLS trusted.
          execute: [
            client.enableNonRepudiationChecks,
            ...(this.options.allowInsecureRequestsForTests ? [client.allowInsecureRequests] : []),
          ],
          ...(this.options.fetchForTests ? { [client.customFetch]: this.options.fetchForTests } : {}),
        },
      )
      .catch((err: unknown) => {
        this.discovered = undefined;
        throw err;
      });
    return this.discovered;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
