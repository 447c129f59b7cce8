import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CLI, asTestUser, runAs, sharedCacheDir, tempDirForTestUser, testUserEnv } from './env.js';

export interface PocketSpec {
  suite?: string;
  /** The Debian release the pocket builds for; unset: archive.suite's default. */
  distribution?: string;
  acl?: string[];
  allow_backtracking?: boolean;
  sandbox?: 'userns' | 'vm';
  deb_build_options?: string;
  promote_from?: string[];
  architectures?: string[];
}

export interface TestBuilderOptions {
  pockets: Record<string, PocketSpec>;
  /** Extra top-level YAML appended to the config. */
  extraYaml?: string;
  slots?: number;
  /** How soon a dead daemon's claim may be taken over. */
  claimStaleSeconds?: number;
}

/** One line of the audit log, as tests read it. */
export interface AuditLine {
  seq: number;
  type: string;
  build?: string;
  data: Record<string, unknown>;
}

interface Result {
  status: string;
  code?: string;
  reason?: string;
  version?: string;
  started: string;
  finished: string;
  outputs: Array<{ file: string; sha256: string }>;
  stages: Array<{ name: string; ms: number }>;
}

/**
 * A real pocketbuild installation in a temp dir: its own config, state, queue and
 * repositories, the shared cache, and the real daemon process running as the unprivileged
 * test user. Only the cache is shared with other tests.
 */
export class TestBuilder {
  readonly root: string;
  readonly configFile: string;
  readonly stateDir: string;
  readonly reposDir: string;
  readonly hooksDir: string;
  /** Daemons started by this builder; the last one is "the" daemon for kill/stop. */
  private daemons: ChildProcess[] = [];
  private get daemon(): ChildProcess | undefined {
    return this.daemons[this.daemons.length - 1];
  }
  private daemonLog: string;

  constructor(name: string, o: TestBuilderOptions) {
    this.root = tempDirForTestUser(name);
    this.stateDir = path.join(this.root, 'var');
    this.reposDir = path.join(this.root, 'repos');
    this.hooksDir = path.join(this.root, 'hooks');
    this.configFile = path.join(this.root, 'config.yml');
    this.daemonLog = path.join(this.root, 'daemon.log');
    const pockets = Object.entries(o.pockets)
      .map(
        ([n, p]) =>
          `  ${n}:\n    suite: ${p.suite ?? n}\n    acl: ${JSON.stringify(p.acl ?? ['*'])}\n    allow_backtracking: ${p.allow_backtracking ?? false}${p.sandbox ? `\n    sandbox: ${p.sandbox}` : ''}${p.deb_build_options ? `\n    deb_build_options: ${JSON.stringify(p.deb_build_options)}` : ''}${p.distribution ? `\n    distribution: ${p.distribution}` : ''}${p.promote_from ? `\n    promote_from: ${JSON.stringify(p.promote_from)}` : ''}${p.architectures ? `\n    architectures: ${JSON.stringify(p.architectures)}` : ''}`,
      )
      .join('\n');
    const yaml = [
      `state_dir: ${this.stateDir}`,
      `queue_dir: ${path.join(this.root, 'queue')}`,
      `repos_dir: ${this.reposDir}`,
      `cache_dir: ${sharedCacheDir()}`,
      `hooks_dir: ${this.hooksDir}`,
      'daemon:',
      `  slots: ${o.slots ?? 1}`,
      '  rescan_seconds: 1',
      `  claim_stale_seconds: ${o.claimStaleSeconds ?? 30}`,
      'hooks:',
      '  timeout_seconds: 5',
      'pockets:',
      pockets,
      o.extraYaml ?? '',
    ].join('\n');
    runAs(['mkdir', '-p', this.reposDir, this.hooksDir, path.join(this.root, 'queue')]);
    fs.writeFileSync(this.configFile, yaml + '\n');
  }

  /** Run the CLI as the test user. */
  cli(args: string[], allowFail = false) {
    return runAs(['node', CLI, '--config', this.configFile, ...args], { allowFail, timeoutMs: 300_000 });
  }

  /** Run the CLI with another config file (to test configuration errors). */
  cliWithConfig(configFile: string, args: string[]) {
    return runAs(['node', CLI, '--config', configFile, ...args], { allowFail: true });
  }

  /** Start a daemon (another one, if one runs: they share the queue and the state, as on NFS). */
  async startDaemon(env: Record<string, string> = {}): Promise<ChildProcess> {
    return this.startDaemonWith(this.configFile, this.daemonLog, env);
  }

  /**
   * Start a daemon with another config file (another host's view of the same state), logging
   * to `logFile`; resolves once it says it is watching. Stopped by cleanup() like the others.
   */
  async startDaemonWith(configFile: string, logFile: string, env: Record<string, string> = {}): Promise<ChildProcess> {
    const argv = asTestUser(['node', CLI, '--config', configFile, 'daemon']);
    const read = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
    const before = (read().match(/daemon: watching/g) ?? []).length;
    const out = fs.openSync(logFile, 'a');
    const d = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(env), stdio: ['ignore', out, out] });
    this.daemons.push(d);
    fs.closeSync(out);
    // Ready once it says it is watching; a daemon that dies at start fails the test with its log.
    for (let i = 0; i < 600; i++) {
      if ((read().match(/daemon: watching/g) ?? []).length > before) return d;
      if (exited(d)) throw new Error(`daemon exited at start:\n${read()}`);
      await sleep(100);
    }
    throw new Error(`daemon did not start:\n${read()}`);
  }

  /** Send the running daemon a signal (SIGHUP: reload). */
  signalDaemon(sig: NodeJS.Signals): void {
    if (!this.daemon || exited(this.daemon)) throw new Error(`no daemon running:\n${this.log()}`);
    this.daemon.kill(sig);
  }

  log(): string {
    return fs.existsSync(this.daemonLog) ? fs.readFileSync(this.daemonLog, 'utf8') : '';
  }

  /** Wait for the daemon to exit by itself (a failpoint). */
  async waitForDaemonExit(limitMs = 10 * 60_000): Promise<void> {
    const d = this.daemon;
    if (!d || exited(d)) return;
    await Promise.race([new Promise((resolve) => d.once('exit', resolve)), sleep(limitMs)]);
    if (!exited(d)) throw new Error(`daemon did not exit:\n${this.log()}`);
  }

  /** How the last daemon ended: its exit code or the signal that killed it; null while it runs. */
  lastDaemonExit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    const d = this.daemon;
    return d && exited(d) ? { code: d.exitCode, signal: d.signalCode } : null;
  }

  /** Kill the daemon without warning, as a crash or the OOM killer would. */
  async killDaemon(): Promise<void> {
    const d = this.daemon;
    if (!d || exited(d)) return;
    const gone = new Promise((resolve) => d.once('exit', resolve));
    d.kill('SIGKILL');
    await gone;
  }

  async stopDaemon(): Promise<void> {
    const d = this.daemon;
    if (!d || exited(d)) return;
    const gone = new Promise((resolve) => d.once('exit', resolve));
    // The daemon runs as another uid when we are root; signalling it is still allowed for root.
    d.kill('SIGTERM');
    await Promise.race([gone, sleep(30_000)]);
    if (!exited(d)) d.kill('SIGKILL');
  }

  submit(pocket: string, pkg: string, commit: string): string {
    return this.cli(['submit', pocket, pkg, commit]).stdout.trim();
  }

  /**
   * Wait until a build is completely done (its result written, its hooks run, its request
   * gone from the queue) and return its result.json. The bound only guards against a hung daemon.
   */
  async waitFor(id: string, limitMs = 15 * 60_000): Promise<Result> {
    const file = path.join(this.stateDir, 'builds', id, 'result.json');
    const queued = path.join(this.root, 'queue', `${id}.json`);
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
      if (fs.existsSync(file) && !fs.existsSync(queued)) {
        // A result cut short (the fault campaign makes some) is rewritten when the daemon resumes.
        try {
          return JSON.parse(fs.readFileSync(file, 'utf8')) as Result;
        } catch {
          /* not whole yet */
        }
      }
      if (this.daemons.length && this.daemons.every(exited)) throw new Error(`daemon died:\n${this.log()}`);
      await sleep(250);
    }
    throw new Error(`build ${id} did not finish within ${limitMs} ms:\n${this.log()}\n${this.buildLog(id)}`);
  }

  /** Every entry of the audit log, oldest first. */
  auditEntries(): AuditLine[] {
    return fs
      .readFileSync(path.join(this.stateDir, 'audit.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditLine);
  }

  buildLog(id: string): string {
    const f = path.join(this.stateDir, 'builds', id, 'build.log');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
  }

  aptDir(): string {
    return path.join(this.stateDir, 'apt');
  }

  gitdir(pkg: string): string {
    return path.join(this.reposDir, `${pkg}.git`);
  }

  git(pkg: string, args: string[]): string {
    return runAs(['git', '--git-dir', this.gitdir(pkg), ...args]).stdout.trim();
  }

  /** Source packages a suite publishes, as "name version" lines. */
  published(suite: string): string[] {
    // The daemon may be publishing right now, and reprepro refuses to read while it does.
    for (let i = 0; ; i++) {
      const r = runAs(
        ['reprepro', '-b', this.aptDir(), '-A', 'source', '--list-format', '${package} ${version}\\n', 'list', suite],
        { allowFail: true },
      );
      if (r.status === 0) return r.stdout.split('\n').filter(Boolean).sort();
      if (i >= 50 || !r.stderr.includes('lockfile')) throw new Error(`reprepro list ${suite}: ${r.stderr}`);
      spawnSync('sleep', ['0.1']);
    }
  }

  async cleanup(): Promise<void> {
    while (this.daemon) {
      await this.stopDaemon();
      this.daemons.pop();
    }
    runAs(['gpgconf', '--kill', 'all'], { env: { GNUPGHOME: path.join(this.stateDir, 'gnupg') }, allowFail: true });
    if (!process.env.POCKETBUILD_KEEP_TEST_DIRS) {
      runAs(['unshare', '--map-auto', '--map-root-user', 'rm', '-rf', this.root], { allowFail: true });
      fs.rmSync(this.root, { recursive: true, force: true });
    }
  }
}

/** A child killed by a signal has no exit code, only a signal code. */
function exited(d: ChildProcess): boolean {
  return d.exitCode !== null || d.signalCode !== null;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
