/**
 * How kanari proves who it is to the API server: a fixed token or client certificate, a
 * token file that rotates (a service account's projected token), or an `exec` credential
 * plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) whose answer is
 * cached until it expires. After a 401 the client expires the cache and asks once more.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { printable } from '../config/errors.js';
import { describeSystemError } from '../shared/system.js';
import type { ExecConfig } from './kubeconfig-file.js';
import { KubeConfigError } from './kubeconfig-file.js';

/** What to present on the next request: a bearer token, a client certificate and key (PEM), or both. */
export interface Credential {
  token?: string;
  cert?: string;
  key?: string;
}

export interface CredentialSource {
  current(): Promise<Credential>;
  /** After a 401: forget what is cached; true when asking again may give something else. */
  expire(): boolean;
}

export function fixedCredential(credential: Credential): CredentialSource {
  return { current: () => Promise.resolve(credential), expire: () => false };
}

/** kubelet rotates projected tokens well before they expire; client-go re-reads the file each minute too. */
const TOKEN_FILE_REREAD_MS = 60_000;

/** A token read from `file`, again each minute and after a 401; `base` adds a client certificate. */
export function tokenFileCredential(file: string, what: string, base: Credential = {}): CredentialSource {
  let cached: { token: string; at: number } | undefined;
  const read = (): string => {
    let token: string;
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new KubeConfigError(`cannot read the token file ${file} (${what}): ${describeSystemError(err)}`);
    }
    if (!token) throw new KubeConfigError(`the token file ${file} (${what}) is empty`);
    return token;
  };
  return {
    current() {
      try {
        if (!cached || Date.now() - cached.at >= TOKEN_FILE_REREAD_MS) cached = { token: read(), at: Date.now() };
        return Promise.resolve({ ...base, token: cached.token });
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
    expire() {
      cached = undefined;
      return true;
    },
  };
}

const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];
/** More than any credential; a plugin printing without end is stopped. */
const MAX_PLUGIN_OUTPUT = 1024 * 1024;

export interface ExecPlugin {
  config: ExecConfig;
  /** `user "eks" in ~/.kube/config`, for messages. */
  what: string;
  /** Where a relative command with a slash is found: its kubeconfig's directory. */
  dir: string;
  /** What `provideClusterInfo` passes the plugin. */
  cluster: { server: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean };
  timeoutMs?: number;
  /** Added to the plugin's environment (tests); kanari's own is passed as kubectl passes it. */
  env?: NodeJS.ProcessEnv;
}

/** Refuses what kanari cannot run, when the kubeconfig is loaded rather than at the first request. */
export function checkExecConfig(config: ExecConfig, what: string): void {
  if (!EXEC_API_VERSIONS.includes(config.apiVersion)) {
    throw new KubeConfigError(
      `the exec plugin of ${what} asks for ${config.apiVersion}; kanari speaks ${EXEC_API_VERSIONS.join(' and ')}`,
    );
  }
  if (config.interactiveMode === 'Always') {
    throw new KubeConfigError(
      `the exec plugin of ${what} needs a terminal (interactiveMode: Always); kanari runs plugins without one`,
    );
  }
}

/** Credentials from an exec plugin, run again when they expire or after a 401; one run at a time. */
export function execCredential(plugin: ExecPlugin): CredentialSource {
  let cached: { credential: Credential; expires: number } | undefined;
  let running: Promise<Credential> | undefined;
  return {
    current() {
      // A minute early, so a request does not set out with a token that expires on the way.
      if (cached && Date.now() < cached.expires - 60_000) return Promise.resolve(cached.credential);
      running ??= runPlugin(plugin)
        .then((answer) => {
          cached = answer;
          return answer.credential;
        })
        .finally(() => (running = undefined));
      return running;
    },
    expire() {
      cached = undefined;
      return true;
    },
  };
}

async function runPlugin(plugin: ExecPlugin): Promise<{ credential: Credential; expires: number }> {
  const { config, what } = plugin;
  const name = `the exec plugin ${JSON.stringify(config.command)} of ${what}`;
  const command =
    config.command.includes('/') && !config.command.startsWith('/')
      ? `${plugin.dir}/${config.command}`
      : config.command;
  const info = {
    apiVersion: config.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false, ...(config.provideClusterInfo ? { cluster: plugin.cluster } : {}) },
  };
  const env: NodeJS.ProcessEnv = { ...process.env, ...plugin.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  for (const { name: key, value } of config.env ?? []) env[key] = value;
  const { stdout, failure } = await run(command, config.args ?? [], env, plugin.timeoutMs ?? 30_000);
  if (failure) {
    const hint = failure.includes('ENOENT') && config.installHint ? `; ${oneLine(config.installHint)}` : '';
    throw new KubeConfigError(`${name} failed: ${failure}${hint}`);
  }
  return parseExecCredential(stdout, config.apiVersion, name);
}

/** The plugin's answer, checked: the API version asked for, a token or a certificate with its key, a valid expiry. */
export function parseExecCredential(
  stdout: string,
  apiVersion: string,
  name: string,
): { credential: Credential; expires: number } {
  let answer: unknown;
  try {
    answer = JSON.parse(stdout);
  } catch {
    throw new KubeConfigError(`${name} printed something other than JSON: ${oneLine(stdout) || 'nothing'}`);
  }
  const body = (typeof answer === 'object' && answer ? answer : {}) as Record<string, unknown>;
  if (body.kind !== 'ExecCredential' || body.apiVersion !== apiVersion) {
    throw new KubeConfigError(`${name} printed something other than an ExecCredential of ${apiVersion}`);
  }
  const status = (typeof body.status === 'object' && body.status ? body.status : {}) as Record<string, unknown>;
  const text = (field: string): string | undefined => {
    const value = status[field];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new KubeConfigError(`${name} printed a status.${field} that is not a string`);
    return value;
  };
  const token = text('token');
  const cert = text('clientCertificateData');
  const key = text('clientKeyData');
  if (!token && !cert)
    throw new KubeConfigError(`${name} printed neither status.token nor status.clientCertificateData`);
  if (!cert !== !key) {
    throw new KubeConfigError(`${name} printed status.clientCertificateData and clientKeyData without the other`);
  }
  const expiry = text('expirationTimestamp');
  const expires = expiry === undefined ? Infinity : Date.parse(expiry);
  if (Number.isNaN(expires))
    throw new KubeConfigError(`${name} printed an expirationTimestamp that is not a time: ${oneLine(expiry!)}`);
  return { credential: { ...(token ? { token } : {}), ...(cert ? { cert, key } : {}) }, expires };
}

/** Runs a command to its end or the timeout (then kills its whole process group); `failure` says why it did not succeed. */
function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ stdout: string; failure?: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let failure: string | undefined;
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const kill = (why: string) => {
      failure ??= why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => kill(`no answer within ${timeoutMs / 1000} s (stopped)`), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.length > MAX_PLUGIN_OUTPUT) kill(`printed more than ${MAX_PLUGIN_OUTPUT / 1024} KB (stopped)`);
    });
    // The end of stderr is where a plugin says what went wrong.
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ stdout, failure: `cannot run it: ${describeSystemError(err)}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (!failure && code !== 0) {
        const said = lastLine(stderr);
        failure = `${signal ? `killed by ${signal}` : `exit status ${code}`}${said ? `: ${said}` : ''}`;
      }
      resolve(failure ? { stdout, failure } : { stdout });
    });
  });
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((line) => line.trim());
  return oneLine(lines.filter(Boolean).pop() ?? '');
}

/** A bounded, printable line of what a program said. */
function oneLine(text: string): string {
  const line = printable(text.trim().split('\n')[0] ?? '');
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
