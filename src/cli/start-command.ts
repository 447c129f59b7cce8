import fs from 'node:fs';
import path from 'node:path';
import { PROJECT } from './project-dir.js';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { findConfigFile, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { prepareState } from '../publish/prepare-state.js';
import { stopAgent } from '../publish/signing-key.js';
import { commitDirectory } from '../git/import-directory.js';
import { createRepo } from './repo-command.js';
import { startDaemon } from './daemon-command.js';
import { refreshAuthorizedKeys } from './user-command.js';
import { startSshServer } from './ssh-server-command.js';
import { aptSourcesLine, startWeb } from './web-command.js';
import { say, untilSignal } from './until-signal.js';
import { reloadOnHangup } from './reload-on-hangup.js';
import { ExitCode, PocketbuildError } from '../util/errors.js';

const SERVICE_USER = 'pocketbuild';
const DEMO = 'pocketbuild-demo';

function tell(s: string): void {
  process.stdout.write(s + '\n');
}

/**
 * The Debian packages a config needs: system-packages.txt's lines before any `[section]`,
 * plus the `[vm]` section's when a pocket builds in the VM sandbox.
 */
export function requiredPackages(config: Pick<Config, 'pockets'>, text = readPackageList()): string[] {
  const vm = Object.values(config.pockets).some((p) => p.sandbox === 'vm');
  let section = '';
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1]!;
    else if (section === '' || (section === 'vm' && vm)) out.push(line);
  }
  return out;
}

function readPackageList(): string {
  return fs.readFileSync(path.join(PROJECT, 'src', 'cli', 'system-packages.txt'), 'utf8');
}

function missingPackages(config: Config): string[] {
  return requiredPackages(config).filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8', timeout: 30_000 });
    return !(r.status === 0 && r.stdout.includes('install ok installed'));
  });
}

function mustRun(argv: string[], what: string): void {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    stdio: 'inherit',
    timeout: 30 * 60_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0)
    throw new PocketbuildError(
      'SetupFailed',
      `${what} failed (${argv.join(' ')}); fix that and run "npm start" again.`,
    );
}

/**
 * `npm start`: everything a fresh Debian machine needs, then the daemon. As root it installs
 * the system packages and hands over to an unprivileged service user (the daemon never runs
 * as root); as anyone else it says exactly what root must run.
 */
export async function runStart(explicitConfig: string | undefined): Promise<number> {
  const configFile =
    explicitConfig ??
    (fs.existsSync(path.join(PROJECT, 'config.yml'))
      ? path.join(PROJECT, 'config.yml')
      : path.join(PROJECT, 'config.example.yml'));
  const config = loadConfig(findConfigFile(configFile));
  const missing = missingPackages(config);
  const isRoot = process.getuid?.() === 0;
  if (missing.length) {
    const line = `apt-get update && apt-get install -y ${missing.join(' ')}`;
    if (!isRoot) {
      process.stderr.write(`pocketbuild: missing system packages; as root, run:\n  ${line}\nthen "npm start" again.\n`);
      return ExitCode.failure;
    }
    tell(`setup: installing ${missing.join(' ')}`);
    mustRun(['apt-get', 'update'], 'apt-get update');
    mustRun(['apt-get', 'install', '-y', ...missing], 'apt-get install');
  }
  if (isRoot) return handOver(config);
  checkSubordinateIds();
  tell(`setup: config ${config.file}`);
  await prepareState(config, { createKey: true });
  await seedDemo(config);
  // The listeners first: a port in use (a second `npm start`) stops everything already
  // started and ends this process with that one line, before any build is taken.
  const started: Array<{ stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const ssh = await startSshServer(config);
    started.push(ssh);
    const web = await startWeb(config);
    started.push(web);
    started.push(await startDaemon(config));
    printWalkthrough(config, ssh.port, web);
  } catch (e) {
    await stopAll();
    await stopAgent(config.state_dir); // started by prepareState for the signing key
    throw e;
  }
  reloadOnHangup(config, say, () => refreshAuthorizedKeys(config, say));
  const sig = await untilSignal();
  say(`${sig}: stopping; running builds stay queued and restart next time`);
  await stopAll();
  return ExitCode.ok;
}

/** As root: make the service user (with subordinate id ranges), give it the state, and continue as it. */
function handOver(config: Config): number {
  if (spawnSync('id', ['-u', SERVICE_USER]).status !== 0) {
    tell(`setup: creating the unprivileged service user "${SERVICE_USER}" (the daemon never runs as root)`);
    mustRun(['useradd', '--create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER], 'useradd');
  }
  const check = spawnSync('setpriv', [
    '--reuid',
    SERVICE_USER,
    '--regid',
    SERVICE_USER,
    '--init-groups',
    'test',
    '-r',
    path.join(PROJECT, 'dist', 'cli', 'main.js'),
  ]);
  if (check.status !== 0) {
    throw new PocketbuildError(
      'SetupFailed',
      `user ${SERVICE_USER} cannot read ${PROJECT}; put the checkout where that user can read it (not under /root), or run "npm start" as an unprivileged user.`,
    );
  }
  for (const d of [config.state_dir, config.queue_dir, config.repos_dir, config.cache_dir]) {
    fs.mkdirSync(d, { recursive: true });
    mustRun(['chown', '-R', `${SERVICE_USER}:`, d], `chown ${d}`);
  }
  const home = os.userInfo({ encoding: 'utf8' }).homedir;
  const userHome = spawnSync('getent', ['passwd', SERVICE_USER], { encoding: 'utf8' }).stdout.split(':')[5] ?? home;
  tell(`setup: continuing as ${SERVICE_USER}`);
  const r = spawnSync(
    'setpriv',
    [
      '--reuid',
      SERVICE_USER,
      '--regid',
      SERVICE_USER,
      '--init-groups',
      '--',
      process.execPath,
      path.join(PROJECT, 'dist', 'cli', 'main.js'),
      '--config',
      config.file,
      'start',
    ],
    {
      stdio: 'inherit',
      env: { ...process.env, HOME: userHome, USER: SERVICE_USER, LOGNAME: SERVICE_USER },
    },
  );
  return r.status ?? ExitCode.failure;
}

function checkSubordinateIds(): void {
  const user = os.userInfo().username;
  const has = (f: string) => {
    try {
      return fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .some((l) => l.startsWith(`${user}:`));
    } catch {
      return false;
    }
  };
  if (!has('/etc/subuid') || !has('/etc/subgid')) {
    throw new PocketbuildError(
      'NoSubordinateIds',
      `user ${user} has no range in /etc/subuid or /etc/subgid, which sandboxes need; as root, run: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}`,
    );
  }
}

/** The demo package from demo/, as a package repository with a `main` branch. */
async function seedDemo(config: Config): Promise<void> {
  const gitdir = path.join(config.repos_dir, `${DEMO}.git`);
  if (fs.existsSync(gitdir)) return;
  await createRepo(config, DEMO);
  await commitDirectory(
    gitdir,
    path.join(PROJECT, 'test', 'fixtures', 'packages', DEMO),
    'main',
    'Import the pocketbuild demo package',
  );
  tell(`setup: created ${gitdir} with the demo package`);
}

function printWalkthrough(config: Config, sshPort: number, web: { port: number; url: string }): void {
  const cli = `${path.join(PROJECT, 'bin', 'pocketbuild')} --config ${config.file}`;
  const pocket = Object.values(config.pockets).find((p) => p.acl.includes('*')) ?? Object.values(config.pockets)[0]!;
  tell(`
pocketbuild is starting. In another terminal:

  ${cli} submit ${pocket.name} ${DEMO} main      # queue the demo package; prints the request id
  ${cli} status                                   # watch it go from queued to succeeded
  ${cli} status ID                                # one build, with the path of its log

Or watch it at ${web.url.replace(/apt\/$/, '')} (the status site). The daemon is making the base image
now (about a minute); the first build waits for it. Then install the result with apt:

  cat > /etc/apt/sources.list.d/pocketbuild.sources <<EOS
  Types: deb
  URIs: file:${path.join(config.state_dir, 'apt')}
  Suites: ${pocket.suite}
  Components: main
  Signed-By: ${path.join(config.state_dir, 'apt', 'key.gpg')}
  EOS
  apt-get update && apt-get install ${DEMO} && ${DEMO}

Or over HTTP: the web server serves the repository at ${web.url}:

  curl -fsSo /etc/apt/keyrings/pocketbuild.gpg ${web.url}key.gpg
  echo '${aptSourcesLine(config, web.port, pocket.suite, '/etc/apt/keyrings/pocketbuild.gpg')}' > /etc/apt/sources.list.d/pocketbuild.list

Walk back from the package to its build (signed provenance), and check the audit log:

  ${cli} verify ${path.join(config.state_dir, 'apt', 'pool', 'main', DEMO.slice(0, 1), DEMO)}/${DEMO}_*.deb
  ${cli} audit verify

Over SSH (the embedded server listens on ${config.ssh.listen}:${sshPort}), admit your key first; no restart:

  ${cli} user add $(id -un) --key ~/.ssh/id_ed25519.pub
  ssh -p ${sshPort} ${config.ssh.account}@${config.ssh.listen} help
  GIT_SSH_COMMAND="ssh -p ${sshPort}" git clone ${config.ssh.account}@${config.ssh.listen}:${DEMO}.git

To change the configuration, edit ${yourConfig(config.file)} restart.
`);
}

/** Where a user should make changes: never the example itself, which `git pull` would overwrite. */
function yourConfig(file: string): string {
  if (path.basename(file) !== 'config.example.yml') return `${file} and`;
  const own = path.join(path.dirname(file), 'config.yml');
  return `your own copy of the example, which npm start uses once it exists:\n  cp ${file} ${own}\nthen`;
}
