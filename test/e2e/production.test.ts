import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/env.js';
import { sleep } from '../helpers/builder.js';
import { freePort, runSsh, sshArgs } from '../helpers/ssh.js';
import { writeNativePackage } from '../helpers/packages.js';
import { request } from '../helpers/http.js';

const CHECKOUT = path.resolve(import.meta.dirname, '..', '..');

/** One systemd unit's service: who it runs as, its environment and its command line. */
interface UnitService {
  user: string;
  env: Record<string, string>;
  execStart: string[];
  execReload: string;
}

function parseUnit(file: string): UnitService {
  const text = fs.readFileSync(file, 'utf8');
  const values = (key: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  const env = Object.fromEntries(values('Environment').map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
  return {
    user: values('User')[0]!,
    env,
    execStart: values('ExecStart')[0]!.split(' '),
    execReload: values('ExecReload')[0]!,
  };
}

/**
 * The README's production section, driven from a clean state as root: deploy/install, every
 * unit checked by systemd-analyze verify and started with its own command line, user and
 * environment (this machine has no systemd to start them), a user admitted with `user add`
 * submitting over a real root OpenSSH sshd as ACCOUNT@127.0.0.1, the package published and
 * served over HTTP, and a reload (the units' ExecReload) with a changed ACL.
 */
describe.runIf(isRoot())('production install (deploy/install, systemd units, OpenSSH)', () => {
  let root: string;
  let account: string;
  let prefix: string;
  let config: string;
  let state: string;
  let sshPort: number;
  let webPort: number;
  const services: ChildProcess[] = [];
  let sshd: ChildProcess | undefined;
  let aliceKey: string;

  const cli = (args: string[]) =>
    spawnSync(path.join(prefix, 'bin', 'pocketbuild'), ['--config', config, ...args], {
      encoding: 'utf8',
      timeout: 120_000,
    });
  /** deploy/install from a checkout, with this test's paths and account. */
  const install = (from: string) =>
    spawnSync(path.join(from, 'deploy', 'install'), [], {
      encoding: 'utf8',
      timeout: 20 * 60_000,
      env: {
        ...process.env,
        POCKETBUILD_PREFIX: prefix,
        POCKETBUILD_ETC: path.dirname(config),
        POCKETBUILD_STATE: state,
        POCKETBUILD_USER: account,
        POCKETBUILD_UNITS: path.join(root, 'units'),
        POCKETBUILD_BIN: '',
      },
    });
  const asAlice = (cmd: string) => runSsh([...sshArgs(aliceKey, sshPort), `${account}@127.0.0.1`, cmd]);

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-prod-'));
    fs.chmodSync(root, 0o755); // the account's home is inside
    account = `pbp${randomBytes(3).toString('hex')}`;
    prefix = path.join(root, 'opt');
    state = path.join(root, 'state');
    config = path.join(root, 'etc', 'config.yml');
    sshPort = await freePort();
    webPort = await freePort();
  });

  afterAll(async () => {
    for (const s of services) s.kill('SIGTERM');
    sshd?.kill('SIGTERM');
    await sleep(1500);
    for (const s of [...services, sshd]) s?.kill('SIGKILL');
    if (account) {
      spawnSync('pkill', ['-KILL', '-u', account]);
      spawnSync('userdel', [account]);
      for (const f of ['/etc/subuid', '/etc/subgid']) {
        const lines = fs.readFileSync(f, 'utf8').split('\n');
        fs.writeFileSync(f, lines.filter((l) => !l.startsWith(`${account}:`)).join('\n'));
      }
    }
    if (root && !process.env.POCKETBUILD_KEEP_TEST_DIRS) fs.rmSync(root, { recursive: true, force: true });
  });

  it('installs the program, the account, the config and units that systemd-analyze verify accepts', () => {
    const r = install(CHECKOUT);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('install: done.');
    // init made the base image ahead of the first build (a new cache_dir), saying so.
    expect(r.stdout).toMatch(
      /^base image: making bookworm [^\n]*\n(?:base image: [^\n]*\n)*base image: ready in [\d.]+ s/m,
    );
    expect(spawnSync('id', ['-u', account]).status).toBe(0);
    expect(fs.readFileSync('/etc/subuid', 'utf8')).toMatch(new RegExp(`^${account}:\\d+:65536$`, 'm'));
    expect(fs.statSync(state).uid).toBe(Number(spawnSync('id', ['-u', account], { encoding: 'utf8' }).stdout));
    const units = fs.readdirSync(path.join(root, 'units')).sort();
    expect(units).toEqual(['pocketbuild-daemon.service', 'pocketbuild-ssh.service', 'pocketbuild-web.service']);
    for (const u of units) {
      const v = spawnSync('systemd-analyze', ['verify', path.join(root, 'units', u)], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect({ u, status: v.status, err: v.stderr }).toEqual({ u, status: 0, err: '' });
    }
    // Installing again is an upgrade: the config, edited by the admin, is kept.
    fs.appendFileSync(config, '# edited by the admin\n');
    const again = install(prefix);
    expect(again.status, again.stdout + again.stderr).toBe(0);
    expect(fs.readFileSync(config, 'utf8')).toContain('# edited by the admin');
  });

  it('runs the units as the account; a user added with user add submits over OpenSSH and gets a published package', async () => {
    // This builder's own ports, and pushes allowed to the test's package.
    const yaml = fs
      .readFileSync(config, 'utf8')
      .replace(/^ {2}port: 2222$/m, `  port: ${await freePort()}`)
      .replace(/^ {2}port: 8080$/m, `  port: ${webPort}`)
      .replace(/^ {2}push: \[\]$/m, "  push: ['*']");
    fs.writeFileSync(config, yaml);
    for (const unit of ['pocketbuild-daemon', 'pocketbuild-web', 'pocketbuild-ssh']) {
      const u = parseUnit(path.join(root, 'units', `${unit}.service`));
      const log = fs.openSync(path.join(root, `${unit}.log`), 'a');
      const argv = ['setpriv', '--reuid', u.user, '--regid', u.user, '--init-groups', '--', ...u.execStart];
      services.push(
        spawn(argv[0]!, argv.slice(1), {
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...u.env },
          stdio: ['ignore', log, log],
        }),
      );
      fs.closeSync(log);
    }
    const daemonLog = () => fs.readFileSync(path.join(root, 'pocketbuild-daemon.log'), 'utf8');
    for (let i = 0; i < 600 && !daemonLog().includes('daemon: watching'); i++) await sleep(100);
    expect(daemonLog()).toContain('daemon: watching');

    // OpenSSH as a Debian admin runs it: root, privilege separation, StrictModes, the account's
    // ~/.ssh/authorized_keys.
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const sshdDir = path.join(root, 'sshd');
    fs.mkdirSync(sshdDir);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(sshdDir, 'host_key')]);
    fs.writeFileSync(
      path.join(sshdDir, 'sshd_config'),
      [
        `Port ${sshPort}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(sshdDir, 'host_key')}`,
        `PidFile ${path.join(sshdDir, 'sshd.pid')}`,
        'AuthorizedKeysFile .ssh/authorized_keys',
        'StrictModes yes',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        `AllowUsers ${account}`,
        'LogLevel VERBOSE',
      ].join('\n') + '\n',
    );
    const sshdLog = fs.openSync(path.join(sshdDir, 'sshd.log'), 'a');
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(sshdDir, 'sshd_config')], {
      stdio: ['ignore', sshdLog, sshdLog],
    });
    fs.closeSync(sshdLog);

    aliceKey = path.join(root, 'alice');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', aliceKey]);
    const add = cli(['user', 'add', 'alice', '--key', `${aliceKey}.pub`]);
    expect(add.status, add.stderr).toBe(0);
    expect(add.stdout).toContain(`rewrote ${path.join(state, '.ssh', 'authorized_keys')}`);
    const repo = cli(['repo', 'create', 'pb-prod']);
    expect(repo.status, repo.stderr).toBe(0);

    let who = asAlice('whoami --json');
    for (let i = 0; i < 50 && who.code === 255; i++) {
      await sleep(200); // sshd still starting
      who = asAlice('whoami --json');
    }
    expect(who.code, who.stderr + fs.readFileSync(path.join(sshdDir, 'sshd.log'), 'utf8')).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({
      principal: 'alice',
      pockets: ['stable', 'dev'], // the example's group release has alice
    });

    // alice pushes her package over OpenSSH and submits it.
    const work = path.join(root, 'work');
    fs.mkdirSync(work);
    writeNativePackage(work, { name: 'pb-prod', version: '1.0' });
    const git = (args: string[]) =>
      spawnSync('git', args, {
        cwd: work,
        encoding: 'utf8',
        timeout: 120_000,
        env: {
          ...process.env,
          GIT_SSH_COMMAND: ['ssh', ...sshArgs(aliceKey, sshPort)].join(' '),
          GIT_AUTHOR_NAME: 'Alice',
          GIT_AUTHOR_EMAIL: 'alice@example.org',
          GIT_COMMITTER_NAME: 'Alice',
          GIT_COMMITTER_EMAIL: 'alice@example.org',
        },
      });
    for (const args of [
      ['init', '-q', '-b', 'main'],
      ['add', '-A'],
      ['commit', '-qm', 'pb-prod 1.0'],
    ])
      expect(git(args).status).toBe(0);
    const push = git(['push', '-q', `${account}@127.0.0.1:pb-prod.git`, 'main']);
    expect(push.status, push.stderr).toBe(0);
    const sub = asAlice('submit dev pb-prod main');
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    let status: { status?: string } = {};
    for (
      let i = 0;
      i < 1200 && !['succeeded', 'failed', 'cancelled', 'denied', 'timeout'].includes(status.status ?? '');
      i++
    ) {
      await sleep(500);
      status = JSON.parse(asAlice(`status ${id} --json`).stdout || '{}') as { status?: string };
    }
    expect(status.status, asAlice(`log ${id}`).stdout + daemonLog()).toBe('succeeded');

    // Published, signed, and served by the web unit.
    const release = await request(webPort, '/apt/dists/dev/InRelease');
    expect(release.status).toBe(200);
    const packages = await request(webPort, '/apt/dists/dev/main/binary-amd64/Packages');
    expect(packages.body.toString()).toMatch(/^Package: pb-prod$/m);

    // systemctl reload: the units' ExecReload, with alice taken off the dev pocket's ACL.
    expect(parseUnit(path.join(root, 'units', 'pocketbuild-daemon.service')).execReload).toBe(
      '/bin/kill -HUP $MAINPID',
    );
    fs.writeFileSync(config, yaml.replace(/^( {4}acl: )\['\*'\]$/m, '$1[nobody]'));
    const before = daemonLog().length;
    services[0]!.kill('SIGHUP');
    for (let i = 0; i < 100 && !daemonLog().slice(before).includes('reload:'); i++) await sleep(100);
    expect(daemonLog().slice(before)).toMatch(/reload: \S+ is in force; changed: pockets/);
    const denied = asAlice('submit dev pb-prod main');
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/^pocketbuild: alice may not build into dev/);
  });
});
