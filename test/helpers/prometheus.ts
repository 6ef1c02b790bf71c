import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { freePort } from '../../src/targets/process.js';

export interface TestPrometheus {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export { freePort };

/**
 * A real Prometheus (the Debian package, installed when missing) scraping the /metrics of
 * `target` (host:port, or several) every second with a bearer token, as an operator would configure it.
 */
export async function startPrometheus(target: string | string[], token: string): Promise<TestPrometheus> {
  const targets = typeof target === 'string' ? [target] : target;
  ensureDebian([['prometheus', 'prometheus']]);
  const dir = mkdtempSync(join(tmpdir(), 'kanari-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: kanari',
      `    authorization: { credentials: ${JSON.stringify(token)} }`,
      `    static_configs: [{ targets: ${JSON.stringify(targets)} }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (i > 300) {
      await stop();
      throw new Error(`prometheus was not ready after 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Target discovery holds new targets back for about 5 s; wait for the first good scrape of each.
  for (let i = 0; ; i++) {
    const answer = (await (await fetch(`${url}/api/v1/targets`)).json()) as {
      data: { activeTargets: { health: string; lastError: string }[] };
    };
    const active = answer.data.activeTargets;
    if (active.length === targets.length && active.every((t) => t.health === 'up')) break;
    if (i > 300) {
      await stop();
      const why = active.map((t) => t.lastError).find(Boolean) ?? 'not every target discovered yet';
      throw new Error(`prometheus could not scrape ${targets.join(', ')} within 30 s: ${why}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, stop };
}
