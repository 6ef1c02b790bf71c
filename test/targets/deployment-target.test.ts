/** The deployment target conformance suite against the fake, the static target and the process target (real processes). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { target as targetSchema } from '../../src/config/schemas/rollout.js';
import type { ProcessRecord } from '../../src/targets/process-group.js';
import { ProcessTarget } from '../../src/targets/process.js';
import { StaticTarget } from '../../src/targets/static.js';
import { deploymentTargetConformance } from '../conformance/deployment-target.js';
import { appCommand } from '../helpers/controller.js';
import { FakeTarget } from '../helpers/fakes.js';

const upstreams = targetSchema.parse({ upstreams: ['http://127.0.0.1:9001'] });

deploymentTargetConformance('fake', (events) =>
  Promise.resolve({ target: new FakeTarget().bind(events), spec: () => upstreams, close: () => Promise.resolve() }),
);

deploymentTargetConformance('static', () =>
  Promise.resolve({ target: new StaticTarget(), spec: () => upstreams, close: () => Promise.resolve() }),
);

deploymentTargetConformance('process', (events) => {
  const records = new Map<string, ProcessRecord | undefined>();
  const target = new ProcessTarget(
    {
      logDir: mkdtempSync(join(tmpdir(), 'kanari-target-')),
      persist: (id, r) => records.set(id, r),
      recall: (id) => records.get(id),
    },
    events,
  );
  const spec = (size: number) =>
    targetSchema.parse({ process: { command: appCommand(), instances: size, stopTimeout: '2s' } });
  return Promise.resolve({ target, spec, close: () => Promise.resolve() });
});
