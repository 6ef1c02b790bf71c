// What the benchmarks that drive a real `kanari up` share: processes started and waited for
// (killed at the end), the demo app as static upstreams, the controller with its API, and
// listen ports for N rollouts.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const ROOT = new URL('../', import.meta.url).pathname;

/** Every process a benchmark started, for its `finally` to kill. */
export const children = [];

/** Starts `node ARGS` and resolves once its stdout matches `ready` (with the match). */
export function start(args, ready) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const m = ready.exec(out);
      if (m) resolve({ child, match: m });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)));
  });
}

/** The demo app as `name`, answering in about 2 ms; resolves with its port. */
export async function demoApp(name) {
  const started = await start([join(ROOT, 'dist/demo/app.js'), '--name', name, '--latency-ms', '2'], /listening (\d+)/);
  return Number(started.match[1]);
}

/** `kanari up` on `state`, with a client of its API under the admin token. */
export async function kanariUp(state) {
  const up = await start(
    [join(ROOT, 'bin/kanari.js'), 'up', '--state', state, '--listen', '127.0.0.1:0'],
    /kanari controller on (http:\/\/[\d.:]+)/,
  );
  const api = up.match[1];
  const token = readFileSync(join(state, 'api-token'), 'utf8').trim();
  const call = async (method, path, body) => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
    return json;
  };
  return { child: up.child, api, token, call };
}

const bindable = (port) =>
  new Promise((resolve) => {
    const server = createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * `n` free ports below Linux's ephemeral range (32768+), as a real service's would be: a
 * port picked from that range can be taken by any outgoing connection meanwhile.
 */
export async function listenPorts(n) {
  const ports = [];
  for (let port = 20000; ports.length < n; port++) if (await bindable(port)) ports.push(port);
  return ports;
}
