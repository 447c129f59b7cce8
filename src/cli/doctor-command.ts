import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { builderKeyFiles } from '../record/builder-key.js';
import { gnupgHome } from '../publish/signing-key.js';
import { run } from '../util/run.js';
import { errorLine, ExitCode } from '../util/errors.js';

/** One thing a builder needs, as `doctor` found it. */
export interface Check {
  name: string;
  ok: boolean;
  /** Works, but not as well as it could (KVM missing for vm pockets). Never fails `doctor`. */
  warn?: true;
  detail: string;
  /** The command that fixes it, or what to do when no command does. */
  fix?: string;
}

/** The machine as `doctor` sees it: every boundary it crosses, so a test can fake them. */
export interface Probe {
  run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  readFile(file: string): string | null;
  /** Mode bits and owner, or null when missing. */
  stat(file: string): { mode: number; uid: number } | null;
  freeBytes(dir: string): number | null;
  /** Null when the address and port can be listened on, else why not. */
  cannotListen(host: string, port: number): Promise<string | null>;
  /** Null when a TCP connection succeeds within 5 s, else why not. */
  cannotConnect(host: string, port: number): Promise<string | null>;
  accessible(file: string, mode: number): boolean;
  user: { name: string; uid: number };
}

/** Free space below which builds and their caches are likely to fail. */
const MIN_FREE_BYTES = 5 * 1024 ** 3;

/** The programs the pipeline runs, and the Debian package of each. */
const PROGRAMS: ReadonlyArray<[string, string]> = [
  ['bwrap', 'bubblewrap'],
  ['mmdebstrap', 'mmdebstrap'],
  ['newuidmap', 'uidmap'],
  ['reprepro', 'reprepro'],
  ['gpg', 'gnupg'],
  ['git', 'git'],
  ['dpkg-source', 'dpkg-dev'],
];

const ok = (name: string, detail: string): Check => ({ name, ok: true, detail });
const bad = (name: string, detail: string, fix: string): Check => ({ name, ok: false, detail, fix });

async function userNamespaces(p: Probe): Promise<Check> {
  const name = 'user namespaces';
  if (p.readFile('/proc/sys/kernel/unprivileged_userns_clone')?.trim() === '0')
    return bad(
      name,
      'unprivileged user namespaces are switched off',
      'sysctl -w kernel.unprivileged_userns_clone=1 && echo kernel.unprivileged_userns_clone=1 > /etc/sysctl.d/50-pocketbuild.conf',
    );
  const max = Number(p.readFile('/proc/sys/user/max_user_namespaces')?.trim() ?? '1');
  if (max === 0)
    return bad(
      name,
      'user.max_user_namespaces is 0',
      'sysctl -w user.max_user_namespaces=15000 && echo user.max_user_namespaces=15000 > /etc/sysctl.d/50-pocketbuild.conf',
    );
  const r = await p.run(['unshare', '--user', '--map-root-user', 'true']);
  if (r.code !== 0)
    return bad(
      name,
      `unshare --user fails: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`,
      'allow unprivileged user namespaces (AppArmor: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0), or use sandbox: vm pockets only',
    );
  return ok(name, 'an unprivileged process can make one');
}

function subordinateIds(p: Probe): Check[] {
  const user = p.user.name;
  return ['/etc/subuid', '/etc/subgid'].map((file) => {
    const name = `${path.basename(file)} range`;
    const line = (p.readFile(file) ?? '').split('\n').find((l) => l.startsWith(`${user}:`));
    const count = Number(line?.split(':')[2] ?? 0);
    if (count >= 65536) return ok(name, `${user} has ${count} ids (${line})`);
    return bad(
      name,
      line ? `${user} has only ${count} ids; a Debian base needs 65536` : `${user} has no range in ${file}`,
      `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}   # a range no other user has`,
    );
  });
}

async function programs(p: Probe): Promise<Check[]> {
  return Promise.all(
    PROGRAMS.map(async ([program, pkg]) => {
      const r = await p.run(['sh', '-c', 'command -v "$1"', 'sh', program]);
      return r.code === 0
        ? ok(program, r.stdout.trim())
        : bad(program, `${program} is not installed`, `apt-get install -y ${pkg}`);
    }),
  );
}

function diskSpace(p: Probe, config: Config): Check[] {
  const dirs = [...new Set([config.state_dir, config.cache_dir])];
  return dirs.map((dir) => {
    const name = `disk space ${dir}`;
    let probeDir = dir;
    while (p.stat(probeDir) === null && path.dirname(probeDir) !== probeDir) probeDir = path.dirname(probeDir);
    const free = p.freeBytes(probeDir);
    if (free === null) return bad(name, `cannot read the free space of ${probeDir}`, `check that ${dir} exists`);
    const gib = (free / 1024 ** 3).toFixed(1);
    return free >= MIN_FREE_BYTES
      ? ok(name, `${gib} GiB free`)
      : bad(name, `${gib} GiB free; builds need at least 5`, `free space on the file system of ${dir}, or move it`);
  });
}

function keyFiles(p: Probe, config: Config): Check[] {
  const { key, pub } = builderKeyFiles(config.state_dir);
  const init = `pocketbuild --config ${config.file} init`;
  const privateFile = (name: string, file: string): Check => {
    const st = p.stat(file);
    if (!st) return bad(name, `${file} is missing`, init);
    if (st.mode & 0o077)
      return bad(name, `${file} is readable by others (mode ${(st.mode & 0o777).toString(8)})`, `chmod 600 ${file}`);
    if (st.uid !== p.user.uid)
      return bad(name, `${file} belongs to uid ${st.uid}, not ${p.user.name}`, `chown ${p.user.name} ${file}`);
    return ok(name, `${file}, mode ${(st.mode & 0o777).toString(8)}`);
  };
  const gnupg = gnupgHome(config.state_dir);
  const gpgDir = p.stat(gnupg);
  return [
    privateFile('builder key', key),
    p.stat(pub) ? ok('builder public key', pub) : bad('builder public key', `${pub} is missing`, init),
    !gpgDir
      ? bad('signing key', `${gnupg} is missing`, init)
      : gpgDir.mode & 0o077
        ? bad(
            'signing key',
            `${gnupg} is open to others (mode ${(gpgDir.mode & 0o777).toString(8)})`,
            `chmod 700 ${gnupg}`,
          )
        : ok('signing key', `${gnupg}, mode ${(gpgDir.mode & 0o777).toString(8)}`),
  ];
}

async function mail(p: Probe, config: Config): Promise<Check[]> {
  const m = config.mail;
  if (m.smtp_host === null) return [ok('mail', 'not configured (mail.smtp_host is null): no e-mail is sent')];
  const out: Check[] = [];
  const why = await p.cannotConnect(m.smtp_host, m.smtp_port);
  out.push(
    why === null
      ? ok('mail server', `${m.smtp_host}:${m.smtp_port} answers`)
      : bad(
          'mail server',
          `${m.smtp_host}:${m.smtp_port}: ${why}`,
          `check mail.smtp_host and mail.smtp_port in ${config.file}`,
        ),
  );
  if (m.auth_user !== null && m.auth_password_file) {
    const file = m.auth_password_file;
    const st = p.stat(file);
    out.push(
      !st || !p.accessible(file, fs.constants.R_OK)
        ? bad(
            'mail password',
            `${file} cannot be read by ${p.user.name}`,
            `chown ${p.user.name} ${file} && chmod 600 ${file}`,
          )
        : st.mode & 0o077
          ? bad('mail password', `${file} is readable by others`, `chmod 600 ${file}`)
          : ok('mail password', file),
    );
  }
  return out;
}

async function ports(p: Probe, config: Config): Promise<Check[]> {
  const listeners: Array<[string, string, number, string]> = [
    ['ssh port', config.ssh.listen, config.ssh.port, 'ssh.port'],
    ['web port', config.web.listen, config.web.port, 'web.port'],
  ];
  return Promise.all(
    listeners.map(async ([name, host, port, key]) => {
      if (port === 0) return ok(name, 'any free port (0)');
      const why = await p.cannotListen(host, port);
      if (why === null) return ok(name, `${host}:${port} is free`);
      // In use is right while this builder runs; it only stops a builder that is not running.
      if (why === 'in use')
        return {
          name,
          ok: true,
          warn: true,
          detail: `${host}:${port} is in use: fine if this builder is running, else something else holds it`,
          fix: `stop what listens there (ss -ltnp 'sport = :${port}') or change ${key} in ${config.file}`,
        } satisfies Check;
      return bad(name, `${host}:${port}: ${why}`, `change ${key} in ${config.file}`);
    }),
  );
}

async function vm(p: Probe, config: Config): Promise<Check[]> {
  if (!Object.values(config.pockets).some((x) => x.sandbox === 'vm')) return [];
  const qemu = await p.run(['sh', '-c', 'command -v qemu-system-x86_64']);
  const out: Check[] = [
    qemu.code === 0
      ? ok('qemu', qemu.stdout.trim())
      : bad(
          'qemu',
          'qemu-system-x86_64 is not installed; vm pockets cannot build',
          'apt-get install -y qemu-system-x86 e2fsprogs',
        ),
  ];
  out.push(
    p.accessible('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK)
      ? ok('kvm', '/dev/kvm is usable')
      : {
          name: 'kvm',
          ok: true,
          warn: true,
          detail: `/dev/kvm is missing or not usable by ${p.user.name}: vm pockets run under software emulation (slow)`,
          fix: `usermod -aG kvm ${p.user.name}   # on a machine with virtualisation enabled`,
        },
  );
  return out;
}

function account(p: Probe): Check[] {
  if (p.user.uid !== 0) return [ok('account', `runs as ${p.user.name}, as the daemon will`)];
  return [
    bad(
      'account',
      'doctor runs as root, which the daemon refuses to do; the checks below are for root, not for the account that builds',
      'run it as that account: setpriv --reuid build --regid build --init-groups pocketbuild doctor (once the state exists, root runs as its owner by itself)',
    ),
  ];
}

/** Everything `doctor` checks, in the order it prints them. */
export async function doctorChecks(config: Config, p: Probe = realProbe()): Promise<Check[]> {
  return [
    ...account(p),
    await userNamespaces(p),
    ...subordinateIds(p),
    ...(await programs(p)),
    ...diskSpace(p, config),
    ...keyFiles(p, config),
    ...(await mail(p, config)),
    ...(await ports(p, config)),
    ...(await vm(p, config)),
  ];
}

/** `pocketbuild doctor`: one line per check, the fix under each problem; exit 1 if any failed. */
export async function runDoctor(config: Config, json: boolean): Promise<number> {
  const checks = await doctorChecks(config);
  if (json) process.stdout.write(JSON.stringify(checks) + '\n');
  else
    for (const c of checks) {
      const mark = !c.ok ? 'FAIL' : c.warn ? 'warn' : 'ok  ';
      process.stdout.write(
        `${mark} ${c.name}: ${c.detail}\n${c.fix && (!c.ok || c.warn) ? `     fix: ${c.fix}\n` : ''}`,
      );
    }
  const failed = checks.filter((c) => !c.ok).length;
  if (!json)
    process.stdout.write(
      failed ? `${failed} problem(s); the fix is under each.\n` : 'everything a builder needs is here.\n',
    );
  return failed ? ExitCode.failure : ExitCode.ok;
}

export function realProbe(): Probe {
  const info = os.userInfo();
  return {
    run: async (argv) => {
      const r = await run(argv, { timeoutMs: 10_000 });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },
    readFile: (file) => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return null;
      }
    },
    stat: (file) => {
      try {
        const st = fs.statSync(file);
        return { mode: st.mode, uid: st.uid };
      } catch {
        return null;
      }
    },
    freeBytes: (dir) => {
      try {
        const s = fs.statfsSync(dir);
        return s.bavail * s.bsize;
      } catch {
        return null;
      }
    },
    cannotListen: (host, port) =>
      new Promise((resolve) => {
        const server = net.createServer();
        server.once('error', (e) =>
          resolve((e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'in use' : errorLine(e)),
        );
        server.listen(port, host, () => server.close(() => resolve(null)));
      }),
    cannotConnect: (host, port) =>
      new Promise((resolve) => {
        const s = net.connect({ host, port, timeout: 5000 });
        s.once('connect', () => {
          s.destroy();
          resolve(null);
        });
        s.once('timeout', () => {
          s.destroy();
          resolve('no answer within 5 s');
        });
        s.once('error', (e) => resolve(errorLine(e)));
      }),
    accessible: (file, mode) => {
      try {
        fs.accessSync(file, mode);
        return true;
      } catch {
        return false;
      }
    },
    user: { name: info.username, uid: info.uid },
  };
}
