import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo, type NativePackage } from '../helpers/packages.js';
import { isRoot, PROJECT, runAs, sharedCacheDir, testUser } from '../helpers/env.js';
import { countingServer } from '../helpers/listener.js';

/**
 * Source packages that attack the builder from inside their build (debian/rules) or from a
 * build-dependency's maintainer script, each trying one thing, all built by the real daemon
 * as the unprivileged test user. Every test checks the host's side (no marker, no secret,
 * no process, nothing wrongly published) and that the result names what stopped the build.
 */

const U = String(process.pid);
/** Every process an attack starts carries this in its argv, so `ps` on the host can find survivors. */
const PROC_MARK = `pbhostile-${U}-proc`;
const rand = () => crypto.randomBytes(12).toString('hex');

type Result = Awaited<ReturnType<TestBuilder['waitFor']>>;

function hostProcesses(mark: string): string[] {
  const r = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(mark) && !l.includes('ps -eo'));
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((f) => path.join(dir, f))
    .filter((f) => fs.lstatSync(f).isFile());
}

/**
 * Every regular file in the shared cache's dependency layers, by sha256: what no build's
 * maintainer script may change. Other tests add and prune layers meanwhile, so whatever
 * vanishes during the walk is skipped.
 */
function layerFiles(): Map<string, string> {
  const layers = path.join(sharedCacheDir(), 'layers');
  const out = new Map<string, string>();
  const keys = fs.existsSync(layers) ? fs.readdirSync(layers).filter((n) => /^[0-9a-f]{64}$/.test(n)) : [];
  for (const key of keys) {
    const root = path.join(layers, key, 'root');
    let files: string[];
    try {
      files = fs.readdirSync(root, { recursive: true }) as string[];
    } catch {
      continue;
    }
    const made = layerMade(key);
    for (const f of files) {
      const p = path.join(root, f);
      try {
        // Keyed with when the layer was made: one pruned and made again meanwhile is another layer.
        if (fs.lstatSync(p).isFile()) out.set(`${made} ${p}`, sha256(p));
      } catch {
        // pruned meanwhile
      }
    }
  }
  return out;
}

function layerMade(key: string): string {
  try {
    return (
      JSON.parse(fs.readFileSync(path.join(sharedCacheDir(), 'layers', key, 'manifest.json'), 'utf8')) as {
        made: string;
      }
    ).made;
  } catch {
    return 'gone';
  }
}

/** Every file of a build's record (log, outputs...), as one string: where a leaked secret would show. */
function recordText(b: TestBuilder, id: string): string {
  return filesUnder(path.join(b.stateDir, 'builds', id))
    .map((f) => fs.readFileSync(f).toString('latin1'))
    .join('\n');
}

/** A TCP listener that only counts who connects. */
function connectOnce(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host, port, timeout: 5000 }, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
    c.on('timeout', () => {
      c.destroy();
      resolve(false);
    });
  });
}

/**
 * A test host in its own network namespace, joined to ours by a veth pair with addresses in
 * 10.199.0.0/16 (a /30 chosen from our pid), running a listener that reports each connection.
 */
class NetnsHost {
  readonly ns = `pbh${U}`;
  readonly hostIf = `pbh${U}h`;
  readonly peerIf = `pbh${U}n`;
  readonly hostIp: string;
  readonly ip: string;
  readonly port = 7000 + (Number(U) % 1000);
  private listener?: ChildProcess;
  private out = '';

  constructor() {
    const idx = Number(U) % 16384;
    const base = `10.199.${Math.floor(idx / 64)}`;
    this.hostIp = `${base}.${(idx % 64) * 4 + 1}`;
    this.ip = `${base}.${(idx % 64) * 4 + 2}`;
  }

  async start(): Promise<void> {
    const ip = (...a: string[]) => {
      const r = spawnSync('ip', a, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
    };
    ip('netns', 'add', this.ns);
    ip('link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.peerIf);
    ip('link', 'set', this.peerIf, 'netns', this.ns);
    ip('addr', 'add', `${this.hostIp}/30`, 'dev', this.hostIf);
    ip('link', 'set', this.hostIf, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.ip}/30`, 'dev', this.peerIf);
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', this.peerIf, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up');
    const server = `require('net').createServer((c) => { console.log('CONNECTION'); c.destroy(); }).listen(${this.port}, '${this.ip}', () => console.log('LISTENING'))`;
    this.listener = spawn('ip', ['netns', 'exec', this.ns, process.execPath, '-e', server], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.listener.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    for (let i = 0; i < 100 && !this.out.includes('LISTENING'); i++) await sleep(100);
    if (!this.out.includes('LISTENING')) throw new Error('the netns listener did not start');
  }

  connections(): number {
    return (this.out.match(/CONNECTION/g) ?? []).length;
  }

  stop(): void {
    this.listener?.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', this.ns]);
    spawnSync('ip', ['link', 'del', this.hostIf]);
  }
}

describe('hostile packages', () => {
  let b: TestBuilder;
  const repos: PackageRepo[] = [];
  const ids: Record<string, string> = {};
  /** Secret strings planted on the host where a build must not reach; none may appear in any build's record. */
  const secrets: Record<string, string> = {};
  let loopback: Awaited<ReturnType<typeof countingServer>>;
  let netnsHost: NetnsHost | undefined;
  const hostTmpMarker = `/tmp/pbhostile-${U}-marker`;
  let daemonSeen: Promise<boolean>;

  type Hostile = Omit<NativePackage, 'name' | 'version'>;

  function commit(name: string, p: Hostile): string {
    const r = new PackageRepo(b.reposDir, name);
    repos.push(r);
    return r.commitVersion({ version: '1.0', ...p });
  }

  function submit(name: string, p: Hostile): void {
    ids[name] = b.submit('stable', name, commit(name, p));
  }

  /** As the test user, write a file under the builder's tree. */
  function plant(file: string, text: string): void {
    runAs(['sh', '-c', 'mkdir -p "$(dirname "$1")" && printf "%s\\n" "$2" > "$1"', 'sh', file, text]);
  }

  function markers(): string[] {
    const home = testUser().home;
    return [
      path.join(b.stateDir, `pwned-${U}`),
      path.join(b.root, `pwned-${U}`),
      path.join(home, `pwned-${U}`),
      hostTmpMarker,
      path.join(b.aptDir(), `pwned-${U}`),
      path.join(b.stateDir, 'builds', `pwned-${U}`),
    ];
  }

  beforeAll(async () => {
    b = new TestBuilder('hostile', {
      pockets: { stable: {} },
      slots: 2,
      // Small limits, so each attack on one ends quickly.
      extraYaml:
        'limits:\n  build_timeout_seconds: 30\n  disk_mb: 64\n  processes: 300\n  log_mb: 1\n  memory_mb: 512\n  cpu_seconds: 5',
    });
    await b.startDaemon();

    // Secrets of the installation, read by the host only.
    const keys = path.join(b.stateDir, 'gnupg', 'private-keys-v1.d');
    const keyText = fs
      .readdirSync(keys)
      .map((f) => fs.readFileSync(path.join(keys, f), 'latin1'))
      .join('\n');
    const d = /\(d #([0-9A-Fa-f]+)#\)/.exec(keyText);
    secrets.signingKey = d ? d[1]! : keyText.slice(-64);
    secrets.sshHostKey = `PBSECRET-sshhostkey-${rand()}`;
    plant(
      path.join(b.stateDir, 'ssh', 'host_ed25519_key'),
      `-----BEGIN OPENSSH PRIVATE KEY-----\n${secrets.sshHostKey}\n-----END OPENSSH PRIVATE KEY-----`,
    );
    secrets.otherBuild = `PBSECRET-otherbuild-${rand()}`;
    plant(path.join(b.stateDir, 'builds', 'zzother', 'pbsecret-other-build'), secrets.otherBuild);
    secrets.otherWork = `PBSECRET-otherwork-${rand()}`;
    plant(path.join(b.stateDir, 'work', 'zzother', 'in', 'pbsecret-other-work'), secrets.otherWork);
    secrets.queue = `PBSECRET-queue-${rand()}`;
    plant(path.join(b.root, 'queue', 'quarantine', 'pbsecret-queue'), secrets.queue);
    secrets.shadow = `PBSECRET-shadow-${rand()}`;
    plant(path.join(b.root, 'pbsecret-shadow'), `root:$6$${secrets.shadow}:19000:0:99999:7:::`);
    secrets.control = `pbsecret-control-${rand()}`;
    plant(
      path.join(b.root, 'pbsecret-control'),
      `Source: pbh-symlink-control\nBuild-Depends: ${secrets.control}\n\nPackage: pbh-symlink-control\nArchitecture: all`,
    );
    secrets.config = `PBSECRET-config-${rand()}`;
    fs.appendFileSync(b.configFile, `# ${secrets.config}\n`);

    loopback = await countingServer('127.0.0.1');
    expect(await connectOnce('127.0.0.1', loopback.port)).toBe(true);
    if (isRoot()) {
      netnsHost = new NetnsHost();
      await netnsHost.start();
      // The host itself reaches the test host: only the sandbox must not.
      expect(await connectOnce(netnsHost.ip, netnsHost.port)).toBe(true);
      for (let i = 0; i < 50 && netnsHost.connections() < 1; i++) await sleep(100);
      expect(netnsHost.connections()).toBe(1);
    }
    expect(loopback.count()).toBe(1);

    const state = b.stateDir;
    const home = testUser().home;
    const attack = (script: string) => ({
      files: { 'attack.sh': `#!/bin/sh\n${script}\n` },
      buildCommands: ['sh attack.sh'],
    });

    submit(
      'pbh-marker',
      attack(
        markers()
          .map((m) => `if echo pwned > "${m}"; then echo "WROTE ${m}"; else echo "ATTACK-WRITE-FAILED ${m}"; fi`)
          .join('\n'),
      ),
    );

    submit('pbh-secrets', {
      uncompressed: true,
      ...attack(
        [
          'loot=debian/loot; : > $loot',
          'grab() { for f in "$@"; do echo "== $f"; cat "$f"; ls -la "$f"; done >> $loot 2>&1; }',
          `grab ${state}/gnupg/private-keys-v1.d/* ${state}/gnupg ${state}/ssh/host_ed25519_key ${b.configFile} ${b.root}/queue/quarantine/pbsecret-queue ${b.root}/queue/* ${state}/audit.log`,
          `grab ${state}/builds/zzother/pbsecret-other-build ${state}/work/zzother/in/pbsecret-other-work ${b.root}/pbsecret-shadow ${home}/.gnupg /root /home/*`,
          // Whatever the sandbox shows, by name, anywhere.
          'find / \\( -path /proc -o -path /sys \\) -prune -o \\( -name "*pbsecret*" -o -name "*.key" -o -name "audit.log" -o -name "config.yml" \\) -print 2>/dev/null | grep -v "^/build/" | while read -r f; do grab "$f"; done',
          'cat $loot',
          'mkdir -p debian/tmp/usr/share/doc/pbh-secrets && cp $loot debian/tmp/usr/share/doc/pbh-secrets/loot',
        ].join('\n'),
      ),
    });

    submit('pbh-symlink-src', {
      symlinks: {
        'leak-key': `${state}/gnupg/private-keys-v1.d`,
        'leak-shadow': `${b.root}/pbsecret-shadow`,
        'leak-config': b.configFile,
      },
      ...attack(
        'set -e\nfor l in leak-key leak-shadow leak-config; do echo "following $l -> $(readlink $l)"; cat $l/* $l || true; done\ncp -rL leak-shadow debian/stolen',
      ),
    });

    submit('pbh-symlink-control', { symlinks: { 'debian/control': `${b.root}/pbsecret-control` } });

    const targets = [`127.0.0.1/${loopback.port}`, ...(netnsHost ? [`${netnsHost.ip}/${netnsHost.port}`] : [])];
    submit(
      'pbh-network',
      attack(
        [
          'ok=0',
          ...targets.map(
            (t) => `if bash -c 'exec 3<>/dev/tcp/${t}; echo hello >&3'; then echo "CONNECTED ${t}"; ok=1; fi`,
          ),
          `perl -MIO::Socket::INET -e 'IO::Socket::INET->new(PeerAddr => "127.0.0.1:${loopback.port}", Timeout => 5) or die "perl connect: $@\\n"' && ok=1`,
          '[ $ok = 1 ] || { echo "NETWORK-ATTACK-FAILED"; exit 1; }',
        ].join('\n'),
      ),
    );

    submit(
      'pbh-disk',
      attack(
        [
          'dd if=/dev/zero of=/tmp/fill bs=1M count=200 && echo "FILLED-TMP"',
          'dd if=/dev/zero of=/dev/shm/fill bs=1M count=200 && echo "FILLED-SHM"',
          'dd if=/dev/zero of=fill bs=1M count=200',
        ].join('\n'),
      ),
    );

    submit('pbh-forever', attack(`echo "sleeping forever"; perl -e '$0 = "${PROC_MARK}-forever"; sleep 100000'`));

    submit('pbh-flood', attack('yes "pbhostile flood line"'));

    submit('pbh-cpu', attack(`perl -e '$0 = "${PROC_MARK}-cpu"; 1 while 1'`));

    submit('pbh-memory', attack(`perl -e '$x = "x" x (1024 * 1024 * 1024); print length($x), "\\n"'`));

    // A daemon that double-forks into its own session and sleeps; the build itself succeeds.
    submit(
      'pbh-daemon',
      attack(
        [
          `( setsid perl -e '$0 = "${PROC_MARK}-daemon"; close STDIN; close STDOUT; close STDERR; sleep 100000' & ) &`,
          `( nohup perl -e '$SIG{TERM} = $SIG{HUP} = "IGNORE"; $0 = "${PROC_MARK}-nohup"; sleep 100000' >/dev/null 2>&1 & ) &`,
          'sleep 1',
          `grep -l "${PROC_MARK}" /proc/[0-9]*/cmdline >/dev/null && echo "DAEMON-RUNNING-IN-SANDBOX"`,
          // Long enough for the host to see it running.
          'sleep 4',
        ].join('\n'),
      ),
    );
    daemonSeen = (async () => {
      for (let i = 0; i < 1200; i++) {
        if (hostProcesses(`${PROC_MARK}-daemon`).length) return true;
        if (fs.existsSync(path.join(b.stateDir, 'builds', ids['pbh-daemon']!, 'result.json'))) return false;
        await sleep(100);
      }
      return false;
    })();

    // /etc/passwd exists inside too, so dpkg-genchanges lists it; the host must not follow it to its own.
    submit('pbh-symlink-out', {
      binaryCommands: ['rm ../pbh-symlink-out_1.0_all.deb', 'ln -s /etc/passwd ../pbh-symlink-out_1.0_all.deb'],
    });

    // Named in debian/files, dpkg-genchanges puts them in the .changes; they exist inside, so it does.
    submit('pbh-changes-dotdot', {
      binaryCommands: [
        'cp ../pbh-changes-dotdot_1.0_all.deb /build/home/pbh-stolen.deb',
        'echo "../home/pbh-stolen.deb misc optional" >> debian/files',
      ],
    });

    submit('pbh-changes-hostpath', {
      binaryCommands: [
        `mkdir -p ${b.root}`,
        `cp ../pbh-changes-hostpath_1.0_all.deb ${b.configFile}`,
        `echo "${b.configFile} misc optional" >> debian/files`,
      ],
    });

    submit('pbh-setuid', {
      binaryCommands: [
        'chmod 4755 ../pbh-setuid_1.0_all.deb',
        'cp /bin/sh ../pbh-setuid-sh; chmod 6755 ../pbh-setuid-sh; ls -l ../pbh-setuid-sh',
        'mknod ../pbh-null c 1 3 && echo MKNOD-SUCCEEDED || echo MKNOD-REFUSED',
        'grep NoNewPrivs /proc/self/status',
        'su -c "id" root </dev/null && echo SU-SUCCEEDED || echo SU-REFUSED',
      ],
    });
  });

  afterAll(async () => {
    repos.forEach((r) => r.cleanup());
    loopback?.close();
    netnsHost?.stop();
    fs.rmSync(hostTmpMarker, { force: true });
    await b?.cleanup();
  });

  async function result(name: string): Promise<Result> {
    return b.waitFor(ids[name]!);
  }

  function noSecretIn(id: string): void {
    const text = recordText(b, id);
    for (const [what, secret] of Object.entries(secrets))
      expect(text.includes(secret), `${what} leaked into build ${id}`).toBe(false);
  }

  function notPublished(name: string): void {
    expect(b.published('stable').filter((l) => l.startsWith(`${name} `))).toEqual([]);
  }

  it("writes no marker on the host: not in the state dir, the builder root, the daemon user's home, /tmp, or the repository", async () => {
    const res = await result('pbh-marker');
    expect(res.status, b.buildLog(ids['pbh-marker']!)).toBe('succeeded');
    const log = b.buildLog(ids['pbh-marker']!);
    // Inside, /tmp is the sandbox's own; every host path is simply absent.
    expect(log).toContain(`WROTE ${hostTmpMarker}`);
    for (const m of markers().filter((m) => m !== hostTmpMarker)) expect(log).toContain(`ATTACK-WRITE-FAILED ${m}`);
    for (const m of markers()) expect(fs.existsSync(m), m).toBe(false);
  });

  it("reads no secret: signing key, SSH host key, config, queue, audit log, another build's files, a planted shadow file", async () => {
    const res = await result('pbh-secrets');
    expect(res.status, b.buildLog(ids['pbh-secrets']!)).toBe('succeeded');
    const log = b.buildLog(ids['pbh-secrets']!);
    expect(log).toContain(`== ${b.stateDir}/ssh/host_ed25519_key`);
    expect(log).toMatch(/No such file or directory/);
    // Everything it read went into its .deb, uncompressed, which the record keeps.
    expect(res.outputs.map((o) => o.file)).toContain('pbh-secrets_1.0_all.deb');
    noSecretIn(ids['pbh-secrets']!);
  });

  it('follows committed symlinks only inside the sandbox, where host paths do not exist', async () => {
    const id = ids['pbh-symlink-src']!;
    const res = await result('pbh-symlink-src');
    expect(res.status).toBe('failed');
    expect(res.code).toBe('BuildFailed');
    expect(b.buildLog(id)).toContain(`following leak-shadow -> ${b.root}/pbsecret-shadow`);
    expect(b.buildLog(id)).toMatch(/cp: cannot stat 'leak-shadow': No such file or directory/);
    noSecretIn(id);
    notPublished('pbh-symlink-src');
  });

  it('refuses a debian/control that is a symlink before apt on the host reads it', async () => {
    // apt-get build-dep runs on the host over the exported tree, and would follow it (and
    // print the Build-Depends of whatever it points at).
    const id = ids['pbh-symlink-control']!;
    const res = await result('pbh-symlink-control');
    expect(res.status).toBe('failed');
    expect(res.code, b.buildLog(id)).toBe('NotARegularFile');
    expect(res.reason).toMatch(
      /^debian\/control in commit [0-9a-f]+ of pbh-symlink-control\.git is a symlink, not a regular file\.$/,
    );
    noSecretIn(id);
    notPublished('pbh-symlink-control');
  });

  it("reaches no network: not a listener on the host's loopback", async () => {
    const id = ids['pbh-network']!;
    const res = await result('pbh-network');
    const log = b.buildLog(id);
    expect(res.status, log).toBe('failed');
    expect(res.code).toBe('BuildFailed');
    expect(log).toContain('NETWORK-ATTACK-FAILED');
    // The attempts were made: 127.0.0.1 is the sandbox's own loopback, where nothing listens.
    expect(log).toContain(`/dev/tcp/127.0.0.1/${loopback.port}: Connection refused`);
    expect(log).toContain('perl connect: IO::Socket::INET: connect: Connection refused');
    expect(log).not.toContain('CONNECTED');
    expect(loopback.count()).toBe(1); // only the test's own check
    notPublished('pbh-network');
  });

  // Making the other host takes root (a network namespace and a veth pair); without it, skipped.
  it.runIf(isRoot())(
    'reaches no network: not a host in another network namespace, which the host itself reaches',
    async () => {
      const id = ids['pbh-network']!;
      const res = await result('pbh-network');
      const log = b.buildLog(id);
      expect(res.status, log).toBe('failed');
      expect(log).toContain(`/dev/tcp/${netnsHost!.ip}/${netnsHost!.port}: Network is unreachable`);
      expect(log).not.toContain(`CONNECTED ${netnsHost!.ip}`);
      expect(netnsHost!.connections()).toBe(1); // only the test's own check
    },
  );

  it('fills only its own scratch disk, including /tmp and /dev/shm, and the result names limits.disk_mb', async () => {
    const id = ids['pbh-disk']!;
    const res = await result('pbh-disk');
    const log = b.buildLog(id);
    expect(res.status, log).toBe('failed');
    expect(res.code, log).toBe('DiskLimitExceeded');
    expect(res.reason).toContain('limits.disk_mb');
    expect(log).toContain("dd: error writing '/tmp/fill': No space left on device");
    expect(log).not.toContain('FILLED-TMP');
    expect(log).not.toContain('FILLED-SHM');
    notPublished('pbh-disk');
  });

  it('is stopped at limits.build_timeout_seconds, and leaves no process', async () => {
    const id = ids['pbh-forever']!;
    const res = await result('pbh-forever');
    expect(res.status, b.buildLog(id)).toBe('timeout');
    expect(res.code).toBe('BuildTimedOut');
    expect(res.reason).toContain('limits.build_timeout_seconds');
    expect(b.buildLog(id)).toContain('sleeping forever');
    expect(hostProcesses(`${PROC_MARK}-forever`)).toEqual([]);
    notPublished('pbh-forever');
  });

  it('is stopped when it floods its log, at limits.log_mb', async () => {
    const id = ids['pbh-flood']!;
    const res = await result('pbh-flood');
    expect(res.status).toBe('failed');
    expect(res.code).toBe('LogLimitExceeded');
    expect(res.reason).toContain('limits.log_mb');
    expect(fs.statSync(path.join(b.stateDir, 'builds', id, 'build.log')).size).toBeLessThan(
      1024 * 1024 + 64 * 1024 + 4096,
    );
    notPublished('pbh-flood');
  });

  it('is stopped when one process burns limits.cpu_seconds of CPU, and the result names it', async () => {
    const id = ids['pbh-cpu']!;
    const res = await result('pbh-cpu');
    const log = b.buildLog(id);
    expect(res.status, log).toBe('failed');
    expect(res.code, log).toBe('CpuLimitExceeded');
    expect(res.reason).toContain('limits.cpu_seconds is 5 s');
    expect(hostProcesses(`${PROC_MARK}-cpu`)).toEqual([]);
    notPublished('pbh-cpu');
  });

  it('cannot take more memory than limits.memory_mb, and the result names it', async () => {
    const id = ids['pbh-memory']!;
    const res = await result('pbh-memory');
    const log = b.buildLog(id);
    expect(res.status, log).toBe('failed');
    expect(res.code, log).toBe('MemoryLimitExceeded');
    expect(res.reason).toContain('limits.memory_mb');
    expect(log).toMatch(/Out of memory/);
    expect(log).not.toContain('1073741824');
    notPublished('pbh-memory');
  });

  it('leaves no daemon behind: the double-forked, setsid, nohup processes die with the build', async () => {
    const id = ids['pbh-daemon']!;
    const res = await result('pbh-daemon');
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    expect(b.buildLog(id)).toContain('DAEMON-RUNNING-IN-SANDBOX');
    // It really ran (the host saw it) ...
    expect(await daemonSeen).toBe(true);
    // ... and nothing of it is left once the build is over.
    expect(hostProcesses(PROC_MARK)).toEqual([]);
  });

  it('does not take out a symlink named like a .deb', async () => {
    const id = ids['pbh-symlink-out']!;
    const res = await result('pbh-symlink-out');
    expect(res.status, b.buildLog(id)).toBe('failed');
    expect(res.code).toBe('BadOutputs');
    expect(res.reason).toMatch(
      /^pbh-symlink-out_1\.0_amd64\.changes names pbh-symlink-out_1\.0_all\.deb, which the build did not produce\.$/,
    );
    expect(fs.existsSync(path.join(b.stateDir, 'builds', id, 'outputs', 'pbh-symlink-out_1.0_all.deb'))).toBe(false);
    notPublished('pbh-symlink-out');
  });

  // dpkg itself refuses to name such files in a .changes; the 'outputs are read back as data'
  // tests below hand crafted ones straight to the check that would stop them.
  it('cannot get dpkg to name a ../ path in its .changes', async () => {
    const id = ids['pbh-changes-dotdot']!;
    const res = await result('pbh-changes-dotdot');
    const log = b.buildLog(id);
    expect(res.status, log).toBe('failed');
    expect(res.code, log).toBe('BuildFailed');
    expect(log).toContain('error: badly formed file name in files list file');
    notPublished('pbh-changes-dotdot');
  });

  it('cannot get dpkg to name a host file in its .changes', async () => {
    const id = ids['pbh-changes-hostpath']!;
    const res = await result('pbh-changes-hostpath');
    const log = b.buildLog(id);
    expect(res.status, log).toBe('failed');
    expect(res.code, log).toBe('BuildFailed');
    expect(log).toContain('error: badly formed file name in files list file');
    noSecretIn(id);
    notPublished('pbh-changes-hostpath');
  });

  it('gains nothing from setuid bits or device nodes: no mknod, no su, outputs stripped to 0644', async () => {
    const id = ids['pbh-setuid']!;
    const res = await result('pbh-setuid');
    const log = b.buildLog(id);
    expect(res.status, log).toBe('succeeded');
    expect(log).toContain('MKNOD-REFUSED');
    expect(log).toContain('SU-REFUSED');
    expect(log).toMatch(/NoNewPrivs:\s+1/);
    expect(log).toMatch(/-rwsr-sr-x .* \.\.\/pbh-setuid-sh/);
    // The .deb it made set-user-id is kept, as 0644; nothing under the state has such bits.
    expect(
      (fs.statSync(path.join(b.stateDir, 'builds', id, 'outputs', 'pbh-setuid_1.0_all.deb')).mode & 0o7777).toString(8),
    ).toBe('644');
    for (const f of filesUnder(b.stateDir)) expect((fs.statSync(f).mode & 0o7000).toString(8), f).toBe('0');
    expect(b.published('stable')).toContain('pbh-setuid 1.0');
  });

  it('the Invirtibuilder attack: a published build-dependency whose postinst attacks the host and the repository', async () => {
    const evilPostinst = [
      '#!/bin/sh',
      'echo "EVIL-POSTINST as uid $(id -u)"',
      `for p in ${[...markers(), path.join(b.aptDir(), 'pool/main/p/pbh-evil-dep/pbh-evil-dep_1.0_all.deb'), path.join(b.aptDir(), 'dists/stable/InRelease'), path.join(b.aptDir(), 'dists/stable/Release'), path.join(b.aptDir(), 'key.gpg'), '/debs/Packages', `${path.join(sharedCacheDir(), 'layers')}/*/root/usr/bin/*`].join(' ')}; do`,
      '  if echo pwned >> "$p"; then echo "EVIL-WROTE $p"; else echo "EVIL-WRITE-FAILED $p"; fi',
      'done',
      'for d in /debs/*.deb; do echo pwned >> "$d" && echo "EVIL-WROTE $d"; done',
      'mount -o remount,rw,bind /debs && echo EVIL-REMOUNTED || echo EVIL-REMOUNT-FAILED',
      'mount -t tmpfs evil /mnt && echo EVIL-MOUNTED || echo EVIL-MOUNT-FAILED',
      `( setsid perl -e '$0 = "${PROC_MARK}-postinst"; sleep 100000' & ) &`,
      'exit 0',
      '',
    ].join('\n');
    const evil = commit('pbh-evil-dep', { postinst: evilPostinst });
    const evilRes = await b.waitFor(b.submit('stable', 'pbh-evil-dep', evil));
    expect(evilRes.status).toBe('succeeded');
    expect(b.published('stable')).toContain('pbh-evil-dep 1.0');

    const pool = path.join(b.aptDir(), 'pool');
    const before = new Map(filesUnder(pool).map((f) => [f, sha256(f)]));
    expect([...before.keys()].filter((f) => f.includes('/pbh-evil-dep/'))).not.toEqual([]);
    const layersBefore = layerFiles();
    const victim = commit('pbh-victim', { buildDepends: 'pbh-evil-dep' });
    const id = b.submit('stable', 'pbh-victim', victim);
    const res = await b.waitFor(id);
    const log = b.buildLog(id);
    expect(res.status, log).toBe('succeeded');
    // Its postinst ran while its own dependency layer was made: no other layer changed.
    expect(log).toMatch(/deps layer: made in/);
    for (const [k, sum] of layersBefore) {
      const [made, f] = [k.slice(0, k.indexOf(' ')), k.slice(k.indexOf(' ') + 1)];
      const key = path.relative(path.join(sharedCacheDir(), 'layers'), f).split(path.sep)[0]!;
      if (layerMade(key) === made && fs.existsSync(f)) expect(sha256(f), f).toBe(sum);
    }
    // The postinst ran, as the namespace's root, and every attack failed.
    expect(log).toContain('EVIL-POSTINST as uid 0');
    for (const m of markers().filter((m) => m !== hostTmpMarker)) expect(log).toContain(`EVIL-WRITE-FAILED ${m}`);
    // (apt's terminal handling ends the postinst's lines with \r.)
    expect(
      log
        .split('\n')
        .filter((l) => l.startsWith('EVIL-WROTE'))
        .map((l) => l.trim()),
    ).toEqual([`EVIL-WROTE ${hostTmpMarker}`]);
    expect(log).toContain('EVIL-REMOUNT-FAILED');
    expect(log).toContain('EVIL-MOUNT-FAILED');
    for (const m of markers()) expect(fs.existsSync(m), m).toBe(false);
    expect(hostProcesses(`${PROC_MARK}-postinst`)).toEqual([]);

    // Every pool file that was there is unchanged; the victim only added its own.
    for (const [f, sum] of before) expect(sha256(f), f).toBe(sum);
    const added = filesUnder(pool).filter((f) => !before.has(f));
    expect(added).not.toEqual([]);
    expect(added.filter((f) => !f.includes('/pbh-victim/'))).toEqual([]);
    // The suite's signature verifies against the repository key, and its indices match it.
    const dists = path.join(b.aptDir(), 'dists', 'stable');
    const gpgv = spawnSync('gpgv', ['--keyring', path.join(b.aptDir(), 'key.gpg'), path.join(dists, 'InRelease')], {
      encoding: 'utf8',
    });
    expect(gpgv.status, gpgv.stderr).toBe(0);
    const release = fs.readFileSync(path.join(dists, 'Release'), 'utf8');
    const sums = release
      .split('SHA256:\n')[1]!
      .split('\n')
      .filter((l) => l.startsWith(' '))
      .map((l) => l.trim().split(/\s+/));
    let checked = 0;
    for (const [sum, , name] of sums) {
      const f = path.join(dists, name!);
      if (fs.existsSync(f)) {
        expect(sha256(f), name).toBe(sum);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(b.published('stable')).toEqual(expect.arrayContaining(['pbh-evil-dep 1.0', 'pbh-victim 1.0']));
  });

  it('leaks no secret into any build record, and no attack process survives', async () => {
    for (const name of Object.keys(ids)) await result(name);
    // The audit log cannot take a planted line (it is hash-chained): the chain's hashes,
    // written while the attacks ran, stand in.
    const audit = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').split('\n').filter(Boolean);
    expect(audit.length).toBeGreaterThan(10);
    audit.slice(1).forEach((l, i) => (secrets[`audit${i}`] = (JSON.parse(l) as { prev: string }).prev));
    for (const id of Object.values(ids)) noSecretIn(id);
    expect(hostProcesses(PROC_MARK)).toEqual([]);
  });

  it('a fork bomb stops at limits.processes, the result names it, and a build in the other slot is untouched', async () => {
    // The bomb holds its processes for a while once at the limit, while the neighbour builds.
    const id = b.submit(
      'stable',
      'pbh-forkbomb',
      commit('pbh-forkbomb', {
        files: {
          'attack.sh': `#!/bin/sh\nperl -e '$0 = "${PROC_MARK}-bomb"; my $n = 0; while (1) { my $p = fork; unless (defined $p) { print "fork failed after $n: $!\\n"; sleep 15; exit 1 } if (!$p) { sleep 100000; exit } $n++ }'\n`,
        },
        buildCommands: ['sh attack.sh'],
      }),
    );
    // The neighbour keeps forking for a while, so it is forking while the bomb is at its limit.
    const neighbour = b.submit(
      'stable',
      'pbh-neighbour',
      commit('pbh-neighbour', {
        buildCommands: ['for i in $$(seq 200); do /bin/true; sleep 0.05; done'],
      }),
    );
    const res = await b.waitFor(id);
    const next = await b.waitFor(neighbour);
    expect(next.status, b.buildLog(neighbour)).toBe('succeeded');
    expect(b.published('stable')).toContain('pbh-neighbour 1.0');
    // They overlapped: the neighbour was compiling while the bomb went off.
    const stepAt = (log: string, step: string) =>
      Date.parse(new RegExp(`^==> ${step} \\((\\S+)\\)$`, 'm').exec(log)?.[1] ?? 'NaN');
    const neighbourLog = b.buildLog(neighbour);
    expect(stepAt(neighbourLog, 'build')).toBeLessThan(Date.parse(res.finished));
    expect(stepAt(b.buildLog(id), 'build')).toBeLessThan(stepAt(neighbourLog, 'check'));
    const log = b.buildLog(id);
    expect(res.status, log).toBe('failed');
    expect(res.code, log).toBe('ProcessLimitExceeded');
    expect(res.reason).toContain('limits.processes is 300');
    expect(log).toMatch(/fork failed after \d+: Resource temporarily unavailable/);
    expect(hostProcesses(`${PROC_MARK}-bomb`)).toEqual([]);
    notPublished('pbh-forkbomb');
  });
});

describe('outputs are read back as data', () => {
  type Check = (dir: string, expect: { source: string; version: string; maxBytes: number }) => Promise<unknown>;
  let checkOutputs: Check;
  const dirs: string[] = [];

  beforeAll(async () => {
    ({ checkOutputs } = (await import(path.join(PROJECT, 'dist', 'steps', 'outputs.js'))) as { checkOutputs: Check });
  });

  const deb = 'pbh-data_1.0_all.deb';
  const line = (name: string, text: string) =>
    ` ${crypto.createHash('sha256').update(text).digest('hex')} ${text.length} ${name}`;
  function outputs(
    changesExtra: { files?: string[]; sha256?: string[] } = {},
    extra: (d: string) => void = () => {},
  ): string {
    const dir = fs.mkdtempSync(path.join('/tmp', `pbh-outputs-${U}-`));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, deb), 'a deb');
    fs.writeFileSync(
      path.join(dir, 'pbh-data_1.0_amd64.changes'),
      [
        'Format: 1.8',
        'Source: pbh-data',
        'Version: 1.0',
        'Files:',
        ` 0123 5 misc optional ${deb}`,
        ...(changesExtra.files ?? []),
        'Checksums-Sha256:',
        line(deb, 'a deb'),
        ...(changesExtra.sha256 ?? []),
        '',
      ].join('\n'),
    );
    extra(dir);
    return dir;
  }
  const check = (d: string) => checkOutputs(d, { source: 'pbh-data', version: '1.0', maxBytes: 1 << 20 });

  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('takes a plain set', async () => {
    await expect(check(outputs())).resolves.toMatchObject({ changes: 'pbh-data_1.0_amd64.changes' });
  });

  it('refuses a host path, a ../ path, a name only under Files, a .dsc naming ../, a setuid file, a symlink and a fifo', async () => {
    await expect(check(outputs({ sha256: [line('/etc/shadow', 'x')] }))).rejects.toThrow(
      'names "/etc/shadow", which is not a plain file name',
    );
    await expect(check(outputs({ sha256: [line('../../gnupg/pubring.kbx', 'x')] }))).rejects.toThrow(
      'names "../../gnupg/pubring.kbx", which is not a plain file name',
    );
    await expect(check(outputs({ files: [' 0123 5 misc optional ../../../config.yml'] }))).rejects.toThrow(
      'names "../../../config.yml" under files, which is not one of the checked outputs',
    );
    const dsc =
      'Format: 3.0 (native)\nSource: pbh-data\nVersion: 1.0\nChecksums-Sha256:\n 00 1 ../../../../etc/passwd\n';
    await expect(
      check(
        outputs({ sha256: [line('pbh-data_1.0.dsc', dsc)] }, (d) =>
          fs.writeFileSync(path.join(d, 'pbh-data_1.0.dsc'), dsc),
        ),
      ),
    ).rejects.toThrow('pbh-data_1.0.dsc names "../../../../etc/passwd" under checksums-sha256');
    await expect(check(outputs({}, (d) => fs.chmodSync(path.join(d, deb), 0o4755)))).rejects.toThrow(
      `output ${deb} has mode 4755; set-user-id, set-group-id and sticky bits are refused`,
    );
    await expect(
      check(
        outputs({}, (d) => {
          fs.rmSync(path.join(d, deb));
          fs.symlinkSync('/etc/passwd', path.join(d, deb));
        }),
      ),
    ).rejects.toThrow(`output ${deb} is not a regular file`);
    await expect(
      check(
        outputs({}, (d) => {
          fs.rmSync(path.join(d, deb));
          spawnSync('mkfifo', [path.join(d, deb)]);
        }),
      ),
    ).rejects.toThrow(`output ${deb} is not a regular file`);
  });
});
