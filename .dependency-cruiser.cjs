/**
 * The layering of src/, checked in `npm test` (npm run lint). docs/architecture.md explains it.
 *
 * LAYERS lists the folders in the order a request passes them, from the ways in down to the
 * ground everything stands on. A module may import its own folder and folders on LATER lines
 * only: an import up the list, or across one line (siblings do separate jobs), fails.
 */
const LAYERS = [
  ['cli'], // entry points: the commands, the daemon process
  ['server', 'web'], // the embedded SSH server; the HTTP server (reads only)
  ['entry'], // what a remote command or push becomes: a queued request, a status, a log
  ['pipeline'], // a claimed request's life: its steps in order, then its one way to end
  ['daemon', 'notify', 'steps', 'acl', 'publish'], // slots; hooks; what each step does; who may; the APT repository
  ['sandbox', 'git'], // libraries of the steps
  ['debian', 'record'], // Debian's formats; build records, the audit log, provenance
  ['queue'], // the request and the directory queue
  ['config'],
  ['util'],
];
const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i])));
const layerRules = [...rank].map(([name, i]) => ({
  name: `layer-${name}`,
  severity: 'error',
  comment: `${name}/ may import only the folders listed after its line in LAYERS.`,
  from: { path: `^src/${name}/` },
  to: {
    path: `^src/(${
      [...rank]
        .filter(([n, j]) => j <= i && n !== name)
        .map(([n]) => n)
        .join('|') || '(?!)'
    })/`,
  },
}));

/*
 * Edges tolerated while they are being removed are listed in
 * .dependency-cruiser-known-violations.json (--ignore-known; empty today); any other fails.
 * Regenerate that file only when removing entries: npm run lint:deps -- --output-type baseline
 */
const folder = (name) => `^src/${name}/`;
const outside = (...names) => `^src/(?!(${names.join('|')})/)`;

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes the order of a request unreadable.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'daemon-knows-no-debian',
      severity: 'error',
      comment: 'The daemon watches the queue and runs slots; what a request means is not its business.',
      from: { path: folder('daemon') },
      to: { path: outside('daemon', 'queue', 'util') },
    },
    {
      name: 'step-libraries-stay-below',
      severity: 'error',
      comment:
        'git/, debian/ and sandbox/ do one job each for the steps; they never reach into the queue, records, hooks, publishing or the ways in.',
      from: { path: '^src/(git|debian|sandbox)/' },
      to: { path: outside('git', 'debian', 'sandbox', 'util', 'config') },
    },
    {
      name: 'steps-write-no-records',
      severity: 'error',
      comment:
        'The build record, its journal and the audit log are written by pipeline/ from what a step returns; a step may name their types only.',
      from: { path: '^src/(steps|publish)/' },
      to: {
        path: '^src/record/(build-record|audit-log|capped-log|provenance)\\.ts$',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'web-only-reads',
      severity: 'error',
      comment:
        'web/ serves what is published: it may read config/, record/, util/ and publish/’s helpers, and starts, queues or builds nothing.',
      from: { path: folder('web') },
      to: { path: outside('web', 'config', 'record', 'util', 'publish') },
    },
    {
      name: 'web-does-not-publish',
      severity: 'error',
      comment:
        'Of publish/, web/ needs only the list of what clients may read; reprepro and the keys are not its business.',
      from: { path: folder('web') },
      to: { path: folder('publish'), pathNot: '^src/publish/public-paths\\.ts$' },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports is dead or an entry point.',
      from: { orphan: true, pathNot: ['\\.d\\.ts$', '^src/cli/main\\.ts$'] },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
