/** `kanari up --oidc FILE`: single sign-on's settings read, validated and given their client secret. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { OidcSignIn, oidcSettings } from '../server/oidc.js';
import { describeSystemError } from '../shared/system.js';
import { UsageError } from './exit.js';

/** Single sign-on as the file configures it; a usage error (exit 2) saying what in the file is wrong. */
export function singleSignOn(file: string): OidcSignIn {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`up: cannot read --oidc ${file}: ${describeSystemError(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new UsageError(`up: --oidc ${file} is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const settings = oidcSettings.safeParse(parsed);
  if (!settings.success)
    throw new UsageError(
      `up: --oidc ${file}: ${settings.error.issues.map((i) => `${i.path.join('.') || 'the file'}: ${i.message}`).join('; ')}`,
    );
  // Never from the command line, where any user's `ps` shows it.
  const secretFile = settings.data.clientSecretFile;
  let secret = process.env.KANARI_OIDC_CLIENT_SECRET;
  if (secretFile !== undefined) {
    try {
      secret = readFileSync(secretFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`up: cannot read the client secret file ${secretFile}: ${describeSystemError(err)}`);
    }
  }
  return new OidcSignIn(settings.data, secret === '' ? undefined : secret);
}
