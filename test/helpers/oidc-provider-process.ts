/**
 * A real OpenID Connect provider (oidc-provider) for the tests, run as its own process:
 * `node --import tsx oidc-provider-process.ts REDIRECT_URL` prints `listening PORT`. Its
 * login page (devInteractions) takes any login and password; the login is the account,
 * whose email is LOGIN@example.test and whose groups are GROUPS[LOGIN]. One client,
 * `kanari`, with a secret, PKCE required. Plain HTTP on loopback: tests only.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'kanari';
export const CLIENT_SECRET = 'kanari-test-secret-not-for-anything-else';
/**
 * Each test account's groups: alice is an admin, bob an operator, vic a viewer; carol has none
 * mapped; mallory is an operator whose email the provider has not verified.
 */
export const GROUPS: Record<string, string[]> = {
  alice: ['platform', 'everyone'],
  bob: ['devs', 'everyone'],
  vic: ['readers'],
  carol: ['everyone'],
  mallory: ['devs'],
};
/** Accounts whose email the provider says it has not verified. */
const UNVERIFIED = new Set(['mallory']);

const redirect = process.argv[2];
if (redirect !== undefined) {
  const server = http.createServer();
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    const provider = new Provider(`http://127.0.0.1:${port}`, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [redirect],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
      findAccount: (_ctx: unknown, id: string) => ({
        accountId: id,
        claims: () => ({
          sub: id,
          email: `${id}@example.test`,
          email_verified: !UNVERIFIED.has(id),
          groups: GROUPS[id] ?? [],
        }),
      }),
      claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
      scopes: ['openid', 'email', 'groups'],
      features: { devInteractions: { enabled: true } },
      pkce: { required: () => true },
      cookies: { keys: ['a-test-provider-cookie-key'] },
      ...(process.env.OIDC_TEST_JWK ? { jwks: { keys: [JSON.parse(process.env.OIDC_TEST_JWK)] } } : {}),
    });
    // Its warnings (development keys, development interactions) are what a test provider is.
    provider.on('server_error', (_ctx, err) => console.error(`oidc-provider: ${String(err)}`));
    server.on('request', provider.callback());
    console.log(`listening ${port}`);
  });
}
