// A router worker process: one DataPlane on the shared listener, driven by the primary over IPC.
import type { ToWorker, FromWorker } from './cluster.js';
import { DataPlane } from './dataplane.js';
import { KeyBatcher } from './key-batch.js';

let plane: DataPlane | undefined;
// The primary counts users for the whole service; this worker only sends what it served.
const keys = new KeyBatcher((batch) => reply({ type: 'keys', batch }));
const reply = (message: FromWorker) => process.send?.(message);

process.on('message', (msg: ToWorker) => {
  void (async () => {
    switch (msg.type) {
      case 'init': {
        const { name, spec, workers } = msg.service;
        plane = new DataPlane(spec, name, msg.stored.table, msg.stored.revision, {
          recordStats: msg.recordStats,
          workers,
          keys,
        });
        const address = await plane.listen(spec.listen.port, spec.listen.host);
        reply({ type: 'ready', address });
        break;
      }
      case 'table':
        // Records of requests served under the previous table go out first, so they are counted before any reset.
        keys.flush();
        plane!.setTable(msg.table, msg.revision);
        reply({ type: 'reply', id: msg.id, value: msg.revision });
        break;
      case 'stats':
        keys.flush();
        reply({ type: 'reply', id: msg.id, value: plane!.stats.snapshot(plane!.table.revision, plane!.available()) });
        break;
      case 'health':
        reply({ type: 'reply', id: msg.id, value: plane!.endpointHealth() });
        break;
    }
  })();
});

reply({ type: 'hello' });

process.on('SIGTERM', () => {
  void (plane?.close() ?? Promise.resolve()).then(() => process.exit(0));
});
