// A router worker process: one DataPlane on the shared listener, driven by the primary over IPC.
import type { ToWorker, FromWorker } from './cluster.js';
import { DataPlane } from './dataplane.js';

let plane: DataPlane | undefined;
const reply = (message: FromWorker) => process.send?.(message);

process.on('message', (msg: ToWorker) => {
  void (async () => {
    switch (msg.type) {
      case 'init': {
        const { name, spec, workers } = msg.service;
        plane = new DataPlane(spec, name, msg.stored.table, msg.stored.revision, {
          recordStats: msg.recordStats,
          workers,
        });
        const address = await plane.listen(spec.listen.port, spec.listen.host);
        reply({ type: 'ready', address });
        break;
      }
      case 'table':
        plane!.setTable(msg.table, msg.revision);
        reply({ type: 'reply', id: msg.id, value: msg.revision });
        break;
      case 'stats':
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
