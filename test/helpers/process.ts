import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { LOADER, ownModule } from './own-module.js';

const APP = ownModule('demo/app.ts');

export interface AppProcess {
  child: ChildProcess;
  port: number;
  url: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The port a child process prints as `listening PORT` on its stdout; a rejection if it exits first. */
export function listeningPort(child: ChildProcess, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before listening`)));
  });
}

/** Starts the demo app as a real child process and waits until it listens. */
export async function spawnApp(name: string, args: string[] = []): Promise<AppProcess> {
  const child = spawn(process.execPath, [...LOADER, APP, '--name', name, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await listeningPort(child, `app ${name}`);
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}
