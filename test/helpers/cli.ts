import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { LOADER, ownModule } from './own-module.js';

const MAIN = ownModule('cli/main.ts');
const ENTRY = `const { main } = await import(${JSON.stringify(MAIN)}); process.exitCode = await main(process.argv.slice(1));`;

/** Where and as whom a started `kanari` runs (uid and gid: a test that needs a user root is not). */
export interface SpawnAs {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** Killed after this many ms (its status is then -1): a command that must not hang. */
  timeout?: number;
}

/** Runs `kanari ARGS` from source to completion. */
export function runCli(
  args: string[],
  opts: { cwd?: string } = {},
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...LOADER, '--input-type=module', '-e', ENTRY, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `kanari ARGS` from source and resolves once a stdout line matches `ready`. */
export async function startCli(
  args: string[],
  ready: RegExp,
  opts: SpawnAs = {},
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [...LOADER, '--input-type=module', '-e', ENTRY, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    uid: opts.uid,
    gid: opts.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (ready.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`kanari ${args.join(' ')} exited with ${code}:\n${out}`)));
  });
  return { child, output: () => out };
}

/** Runs `kanari ARGS` from source to completion without blocking this process (load keeps running). */
export function runCliAsync(
  args: string[],
  opts: SpawnAs = {},
): Promise<{ status: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...LOADER, '--input-type=module', '-e', ENTRY, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    uid: opts.uid,
    gid: opts.gid,
    timeout: opts.timeout,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ status: code ?? -1, stdout, stderr })));
}
