/**
 * Reading kubeconfig files: their shape (what kanari uses of them, checked with a schema so
 * a wrong field is reported at its line), and merging several as kubectl merges
 * $KUBECONFIG: the first file to name a cluster, user or context wins, and the first to set
 * `current-context` wins.
 */
import { statSync } from 'node:fs';
import { z } from 'zod';
import { loadFileText, parseDocuments } from '../config/load.js';
import { describeSystemError, StartupError } from '../shared/system.js';

/** A kubeconfig that cannot be used, in one line naming the file and the field; the CLI exits 2. */
export class KubeConfigError extends StartupError {
  override name = 'KubeConfigError';
}

/** Far above any real kubeconfig (a few KB per cluster with its certificates inline). */
const MAX_FILE_BYTES = 8 * 1024 * 1024;

// Base64 fields hold keys: checked in kubeconfig.ts, whose message does not quote them as a schema's would.
const base64 = z.string();

const cluster = z.object({
  server: z.string().min(1, 'must not be empty'),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': base64.optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
  'proxy-url': z.string().optional(),
});

const execConfig = z.object({
  apiVersion: z.string(),
  command: z.string().min(1, 'must not be empty'),
  args: z.array(z.string()).nullish(),
  env: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
  installHint: z.string().optional(),
  provideClusterInfo: z.boolean().optional(),
  interactiveMode: z.enum(['Never', 'IfAvailable', 'Always']).optional(),
});
export type ExecConfig = z.output<typeof execConfig>;

const user = z.object({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-certificate-data': base64.optional(),
  'client-key': z.string().optional(),
  'client-key-data': base64.optional(),
  exec: execConfig.optional(),
  'auth-provider': z.unknown().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  as: z.string().optional(),
});

const context = z.object({
  cluster: z.string().min(1, 'must not be empty'),
  user: z.string().optional(),
  namespace: z.string().optional(),
});

const name = z.string().min(1, 'must not be empty');

const kubeconfigSchema = z.object({
  'current-context': z.string().nullish(),
  clusters: z.array(z.object({ name, cluster })).nullish(),
  users: z.array(z.object({ name, user })).nullish(),
  contexts: z.array(z.object({ name, context })).nullish(),
});

export type ClusterEntry = z.output<typeof cluster>;
export type UserEntry = z.output<typeof user>;
export type ContextEntry = z.output<typeof context>;

/** One cluster, user or context, with the file it came from (relative paths in it are from that file's directory). */
export interface Named<T> {
  name: string;
  value: T;
  file: string;
  /** `users[2]`: where in its file, for messages. */
  at: string;
}

/** Several kubeconfig files as one. */
export interface MergedKubeconfig {
  files: string[];
  currentContext?: string;
  clusters: Map<string, Named<ClusterEntry>>;
  users: Map<string, Named<UserEntry>>;
  contexts: Map<string, Named<ContextEntry>>;
}

/** Reads and merges `files` in order; a file that is missing is skipped only when `skipMissing` (as kubectl does for $KUBECONFIG). */
export function readKubeconfigs(files: readonly string[], skipMissing: boolean, home?: string): MergedKubeconfig {
  const merged: MergedKubeconfig = { files: [], clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const file of files) {
    const config = readOne(file, skipMissing, home);
    if (!config) continue;
    merged.files.push(file);
    merged.currentContext ||= config['current-context'] || undefined;
    addFirst(
      merged.clusters,
      (config.clusters ?? []).map((e) => ({ name: e.name, value: e.cluster })),
      'clusters',
      file,
    );
    addFirst(
      merged.users,
      (config.users ?? []).map((e) => ({ name: e.name, value: e.user })),
      'users',
      file,
    );
    addFirst(
      merged.contexts,
      (config.contexts ?? []).map((e) => ({ name: e.name, value: e.context })),
      'contexts',
      file,
    );
  }
  return merged;
}

function readOne(
  file: string,
  skipMissing: boolean,
  home: string | undefined,
): z.output<typeof kubeconfigSchema> | undefined {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    if (skipMissing && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KubeConfigError(`cannot read the kubeconfig ${displayPath(file, home)}: ${describeSystemError(err)}`);
  }
  if (size > MAX_FILE_BYTES) {
    throw new KubeConfigError(
      `the kubeconfig ${displayPath(file, home)} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB`,
    );
  }
  const shown = displayPath(file, home);
  const [doc, ...rest] = parseDocuments(loadFileText(file), shown);
  if (rest.length > 0) throw new KubeConfigError(`the kubeconfig ${shown} holds more than one YAML document`);
  // An empty file is an empty kubeconfig, as kubectl reads it.
  return doc ? doc.validate(kubeconfigSchema) : {};
}

function addFirst<T>(
  into: Map<string, Named<T>>,
  entries: readonly { name: string; value: T }[],
  list: string,
  file: string,
): void {
  entries.forEach((entry, index) => {
    if (!into.has(entry.name))
      into.set(entry.name, { name: entry.name, value: entry.value, file, at: `${list}[${index}]` });
  });
}

/** `~/.kube/config` rather than `/home/ana/.kube/config`: shorter, and what people type. */
export function displayPath(file: string, home = process.env.HOME): string {
  return home && file.startsWith(`${home}/`) ? `~${file.slice(home.length)}` : file;
}
