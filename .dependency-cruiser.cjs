/**
 * The layering of src/, checked in `npm test` (npm run lint:deps). The folders follow a
 * request's path: cli/server/entry (the ways in) → acl → queue → daemon (knows nothing about
 * Debian) → pipeline (a request's life: the steps in order, then its end) → steps, using
 * git/debian/sandbox (step libraries) → publish → record → notify; config/ and util/ are the
 * ground everything stands on.
 *
 * Edges tolerated while they are being removed are listed in
 * .dependency-cruiser-known-violations.json (--ignore-known; empty today); any other fails.
 * Regenerate that file only when removing entries: npm run lint:deps -- --output-type baseline
 */
const folder = (name) => `^src/${name}/`;
const outside = (...names) => `^src/(?!(${names.join('|')})/)`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes the order of a request unreadable.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'util-is-ground',
      severity: 'error',
      comment: 'util/ is used by all and uses nothing of ours.',
      from: { path: folder('util') },
      to: { path: outside('util') },
    },
    {
      name: 'config-is-ground',
      severity: 'error',
      comment: 'config/ turns YAML into types; it needs util/ only.',
      from: { path: folder('config') },
      to: { path: outside('config', 'util') },
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
      name: 'steps-do-not-finish',
      severity: 'error',
      comment:
        'Steps return what they made; running them in order and finishing a request (hooks, queue) is pipeline/’s job.',
      from: { path: folder('steps') },
      to: { path: '^src/(pipeline|notify|queue|daemon|entry|server|cli)/' },
    },
    {
      name: 'pipeline-is-not-entered-from-outside',
      severity: 'error',
      comment: 'Only the daemon’s entry point (cli/) starts the pipeline; the ways in only queue requests.',
      from: {
        path: '^src/(entry|server|acl|queue|daemon|steps|git|debian|sandbox|publish|record|notify|config|util)/',
      },
      to: { path: folder('pipeline') },
    },
    {
      name: 'notify-is-last',
      severity: 'error',
      comment:
        'Hooks are told about finished work (the request’s type is all they need of the queue); they start none.',
      from: { path: folder('notify') },
      to: { path: '^src/(build|entry|server|cli|daemon|queue|publish|sandbox)/', pathNot: '^src/queue/request\\.ts$' },
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
      name: 'only-cli-starts-web',
      severity: 'error',
      comment: 'The web server is an entry point like the SSH server: only cli/ starts it.',
      from: { pathNot: '^src/(cli|web)/' },
      to: { path: folder('web') },
    },
    {
      name: 'nobody-imports-cli',
      severity: 'error',
      comment: 'cli/ holds entry points only.',
      from: { pathNot: folder('cli') },
      to: { path: folder('cli') },
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
