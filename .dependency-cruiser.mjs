/**
 * kanari's layers, checked by `npm run layers` (part of `npm test`). Each folder of src/ may
 * import only the folders listed for it — the architecture (docs/architecture.md) as a table.
 * A layer never imports one above it, so the pure core (config, judges, the state machine)
 * can be tested and reused without the world, and each new world (Kubernetes, a dashboard,
 * flags) is a folder of adapters on top.
 */
const MAY_IMPORT = {
  // Contracts and helpers every layer shares: stats snapshot, sketch, bounded regex, HTTP helpers.
  shared: [],
  // Schemas, loading with located errors, and the languages files are written in.
  config: ['shared'],
  // Judges, metric providers, analysis runs, statistics.
  analysis: ['shared', 'config'],
  // The state machine, strategies, and the engine that runs them through the seams.
  rollout: ['shared', 'config', 'analysis'],
  // The data plane: knows routing tables, nothing of rollouts.
  router: ['shared', 'config'],
  // A Kubernetes API client and what every Kubernetes adapter shares: knows objects, nothing of rollouts.
  kube: ['shared', 'config'],
  // Adapters behind the seams; each imports the layers below, never another adapter.
  traffic: ['shared', 'config', 'analysis', 'rollout', 'router', 'kube'],
  targets: ['shared', 'config', 'analysis', 'rollout', 'kube'],
  store: ['shared', 'config', 'analysis', 'rollout', 'kube'],
  simulate: ['shared', 'config', 'analysis', 'rollout'],
  // The controller: composes the engine with its adapters and serves the API.
  server: ['shared', 'config', 'analysis', 'rollout', 'router', 'kube', 'traffic', 'targets', 'store', 'simulate'],
  // Kubernetes mode's composition root: watches Rollout resources and runs an engine for each.
  operator: ['shared', 'config', 'analysis', 'rollout', 'kube', 'traffic', 'targets', 'store'],
  demo: ['shared', 'config', 'analysis', 'rollout', 'router', 'kube', 'traffic', 'targets', 'store', 'server'],
  cli: [
    'shared',
    'config',
    'analysis',
    'rollout',
    'router',
    'kube',
    'traffic',
    'targets',
    'store',
    'simulate',
    'server',
    'operator',
    'demo',
  ],
};

/**
 * Imports that break the table today, each with the reason and the work that removes it.
 * Keep this list short and shrinking; a new entry needs the same justification.
 */
const KNOWN_EXCEPTIONS = [
  {
    from: '^src/traffic/router-process\\.ts$',
    to: '^src/targets/process\\.ts$',
    why: 'the router process is supervised with the process target’s ProcessGroup',
  },
];

const layers = Object.keys(MAY_IMPORT);

export default {
  forbidden: [
    ...layers.map((layer) => ({
      name: `${layer}-imports-only-below`,
      comment: `src/${layer}/ may import only: ${MAY_IMPORT[layer].join(', ') || 'nothing else in src/'}`,
      severity: 'error',
      from: { path: `^src/${layer}/`, pathNot: KNOWN_EXCEPTIONS.map((e) => e.from) },
      to: { path: `^src/(?!(${[layer, ...MAY_IMPORT[layer]].join('|')})/)[^/]+/` },
    })),
    ...KNOWN_EXCEPTIONS.map((e, i) => ({
      name: `known-exception-${i + 1}`,
      comment: `allowed only for: ${e.why}`,
      severity: 'error',
      from: { path: e.from },
      to: {
        path: `^src/(?!(${[e.from.split('/')[1], ...MAY_IMPORT[e.from.split('/')[1]]].join('|')})/)[^/]+/`,
        pathNot: e.to,
      },
    })),
    {
      name: 'no-unknown-layer',
      comment: 'every folder of src/ has a place in MAY_IMPORT (.dependency-cruiser.cjs)',
      severity: 'error',
      from: { path: `^src/(?!(${layers.join('|')})/)` },
      to: {},
    },
    {
      name: 'no-unknown-layer-imported',
      comment:
        'every file of src/ is in a folder MAY_IMPORT places; a file at the root of src/ is in no layer and could bridge any two',
      severity: 'error',
      from: {},
      to: { path: `^src/(?!(${layers.join('|')})/)` },
    },
    {
      name: 'no-cycles',
      comment: 'a cycle makes two modules one; break it by moving what both need down a layer',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'web-imports-nothing-of-src',
      comment:
        'the dashboard (web/) runs in a browser and is built with its own tsconfig: it talks to src/ only over HTTP (its answer types are its own, checked by test/web/api-types.ts)',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: '^src/' },
    },
    {
      name: 'src-never-imports-tests-or-benchmarks',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts|web)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type a layer needs from above is a dependency all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
