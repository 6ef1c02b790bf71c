/** `kanari up --oidc FILE` and `kanari operator --api … --oidc FILE`: single sign-on's settings read, validated and given their client secret. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { OidcSignIn, oidcSettings, type FlowKeeper } from '../server/oidc.js';
import { describeSystemError } from '../shared/system.js';
import { UsageError } from './exit.js';

/**
 * Single sign-on as the file configures it; a usage error (exit 2) saying what in the file is
 * wrong. The operator keeps flows elsewhere than memory (`flows`), and needs the redirect URL
 * said: behind a Service, the address it listens on is not the one browsers come back to.
 */
export function singleSignOn(
  file: string,
  command: 'up' | 'operator' = 'up',
  o: { flows?: FlowKeeper } = {},
): OidcSignIn {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${command}: cannot read --oidc ${file}: ${describeSystemError(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${command}: --oidc ${file} is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const settings = oidcSettings.safeParse(parsed);
  if (!settings.success)
    throw new UsageError(
      `${command}: --oidc ${file}: ${settings.error.issues.map((i) => `${i.path.join('.') || 'the file'}: ${i.message}`).join('; ')}`,
    );
  if (command === 'operator' && settings.data.redirectUrl === undefined)
    throw new UsageError(
      `operator: --oidc ${file}: redirectUrl is needed on a cluster: the address browsers reach the operator's API at (its Service, Ingress or port-forward), then /auth/oidc/callback`,
    );
  // Never from the command line, where any user's `ps` shows it.
  const secretFile = settings.data.clientSecretFile;
  let secret = process.env.KANARI_OIDC_CLIENT_SECRET;
  if (secretFile !== undefined) {
    try {
      secret = readFileSync(secretFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`${command}: cannot read the client secret file ${secretFile}: ${describeSystemError(err)}`);
    }
  }
  return new OidcSignIn(settings.data, secret === '' ? undefined : secret, o.flows ? { flows: o.flows } : {});
}
