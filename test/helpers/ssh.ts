import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CLI, PROJECT, asTestUser, isRoot, runAs, testUser, testUserEnv } from './env.js';
import { sleep } from './builder.js';

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What a test needs from either server: run a command as a principal, and a git that reaches it. */
export interface SshTarget {
  readonly name: string;
  run(principal: string, command: string, input?: string): SshResult;
  /** Environment for the real `git` client, plus the remote URL of a package. */
  git(principal: string, pkg: string): { env: NodeJS.ProcessEnv; url: string };
}

/** A free TCP port on loopback (the kernel picks; a tiny race with other tests is acceptable). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Client keys per principal, in a directory only the test process (root or the user) reads. */
export class ClientKeys {
  readonly dir: string;
  constructor(root: string, principals: string[]) {
    this.dir = path.join(root, 'client-keys');
    fs.mkdirSync(this.dir, { mode: 0o700, recursive: true });
    for (const p of principals) {
      const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${p}@test`, '-f', this.key(p)], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
    }
  }
  key(p: string): string {
    return path.join(this.dir, p);
  }
  publicKey(p: string): string {
    return fs.readFileSync(`${this.key(p)}.pub`, 'utf8').trim();
  }
}

/** The config's `ssh:` section for the embedded server on a loopback port, each principal with its test key. */
export function embeddedSshYaml(port: number, keys: ClientKeys, principals: string[]): string[] {
  return [
    'ssh:',
    '  listen: 127.0.0.1',
    `  port: ${port}`,
    '  users:',
    ...principals.map((p) => `    ${p}: [${JSON.stringify(keys.publicKey(p))}]`),
  ];
}

export function sshArgs(keyFile: string, port: number): string[] {
  return [
    '-F',
    '/dev/null',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    '-i',
    keyFile,
    '-p',
    String(port),
  ];
}

export function runSsh(args: string[], input?: string): SshResult {
  const r = spawnSync('ssh', args, { encoding: 'utf8', input: input ?? '', timeout: 300_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A real OpenSSH sshd on a loopback port, run as the unprivileged test user with its own host
 * key, config and authorized_keys: one forced-command line per principal, exactly as in
 * production. The system sshd and port 22 are never touched.
 */
export class OpenSshServer implements SshTarget {
  readonly name = 'OpenSSH';
  private proc?: ChildProcess;
  port = 0;
  private readonly dir: string;

  /**
   * `rawCommands` maps a key name to a forced command of its own (a benchmark's do-nothing
   * floor). With `fastClientSocket`, principals' keys use bin/pocketbuild-ssh against that
   * daemon socket instead of the Node forced command; `fastClientNode` is the program it
   * falls through to (its --node; by default this Node).
   */
  constructor(
    root: string,
    private readonly keys: ClientKeys,
    configFile: string,
    principals: string[],
    rawCommands: Record<string, string> = {},
    fastClientSocket?: string,
    fastClientNode?: string,
  ) {
    this.dir = path.join(root, 'sshd');
    runAs(['mkdir', '-p', this.dir]);
    runAs(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', path.join(this.dir, 'host_key')]);
    const lines = principals.map(
      (p) =>
        `command="${forcedCommand(configFile, p, fastClientSocket, fastClientNode)}",restrict ${keys.publicKey(p)}`,
    );
    for (const [k, cmd] of Object.entries(rawCommands)) lines.push(`command="${cmd}",restrict ${keys.publicKey(k)}`);
    runAs(['sh', '-c', 'cat > "$1"', 'sh', path.join(this.dir, 'authorized_keys')], {});
    fs.writeFileSync(path.join(this.dir, 'authorized_keys'), lines.join('\n') + '\n');
  }

  async start(): Promise<void> {
    const { port, proc } = await startSshd(this.dir, [
      `AuthorizedKeysFile ${path.join(this.dir, 'authorized_keys')}`,
      'PermitUserEnvironment no',
    ]);
    this.port = port;
    this.proc = proc;
  }

  run(principal: string, command: string, input?: string): SshResult {
    return runSsh(this.argv(principal, command), input);
  }

  /** The full `ssh` argv for one command as one key (for callers that spawn it themselves). */
  argv(principal: string, command: string): string[] {
    return [...sshArgs(this.keys.key(principal), this.port), `${testUser().name}@127.0.0.1`, command];
  }

  git(principal: string, pkg: string) {
    return {
      env: { ...process.env, GIT_SSH_COMMAND: ['ssh', ...sshArgs(this.keys.key(principal), this.port)].join(' ') },
      url: `${testUser().name}@127.0.0.1:${pkg}.git`,
    };
  }

  async stop(): Promise<void> {
    this.proc?.kill('SIGTERM');
    await sleep(100);
  }
}

/** The authorized_keys command for a principal: the Node forced command, or the fast client (falling through to `node`). */
export function forcedCommand(
  configFile: string,
  principal: string,
  fastClientSocket?: string,
  node = process.execPath,
): string {
  return fastClientSocket
    ? `${path.join(PROJECT, 'bin', 'pocketbuild-ssh')} --config ${configFile} --socket ${fastClientSocket} --principal ${principal} --node ${node}`
    : `${process.execPath} ${CLI} --config ${configFile} ssh --principal ${principal}`;
}

/** The embedded ssh2 server (`pocketbuild ssh-server`), principals as user names. */
export class EmbeddedServer implements SshTarget {
  readonly name = 'embedded';
  private proc?: ChildProcess;

  constructor(
    private readonly keys: ClientKeys,
    private readonly configFile: string,
    readonly port: number,
    private readonly logFile: string,
  ) {}

  async start(): Promise<void> {
    const argv = asTestUser(['node', CLI, '--config', this.configFile, 'ssh-server']);
    const log = fs.openSync(this.logFile, 'a');
    this.proc = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(), stdio: ['ignore', log, log] });
    fs.closeSync(log);
    for (let i = 0; i < 200; i++) {
      if (fs.existsSync(this.logFile) && fs.readFileSync(this.logFile, 'utf8').includes('ssh: listening')) return;
      if (this.proc.exitCode !== null) break;
      await sleep(100);
    }
    throw new Error(`embedded ssh server did not start: ${fs.readFileSync(this.logFile, 'utf8')}`);
  }

  run(principal: string, command: string, input?: string): SshResult {
    return runSsh([...sshArgs(this.keys.key(principal), this.port), `${principal}@127.0.0.1`, command], input);
  }

  /** As run, without blocking this process (for many clients at once). */
  runAsync(principal: string, command: string): Promise<SshResult> {
    const argv = [...sshArgs(this.keys.key(principal), this.port), `${principal}@127.0.0.1`, command];
    return new Promise((resolve) => {
      const p = spawn('ssh', argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  git(principal: string, pkg: string) {
    return {
      env: { ...process.env, GIT_SSH_COMMAND: ['ssh', ...sshArgs(this.keys.key(principal), this.port)].join(' ') },
      url: `${principal}@127.0.0.1:${pkg}.git`,
    };
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  async stop(): Promise<void> {
    this.proc?.kill('SIGTERM');
    await sleep(200);
  }
}

export { isRoot };

/**
 * An OpenSSH sshd on a free loopback port, run as the test user from `dir` (which holds its
 * host_key), with key logins only and `extra` config lines; resolves once it accepts connections.
 */
export async function startSshd(dir: string, extra: string[]): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const cfg = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(dir, 'host_key')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    `AllowUsers ${testUser().name}`,
    // Only because the test's files live under /tmp; production keeps them in the service user's ~/.ssh.
    'StrictModes no',
    'LogLevel ERROR',
    'MaxStartups 100:30:200',
    ...extra,
  ].join('\n');
  runAs(['sh', '-c', 'printf "%s\\n" "$2" > "$1"', 'sh', path.join(dir, 'sshd_config'), cfg]);
  const argv = asTestUser(['/usr/sbin/sshd', '-D', '-e', '-f', path.join(dir, 'sshd_config')]);
  const log = fs.openSync(path.join(dir, 'sshd.log'), 'a');
  const proc = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(), stdio: ['ignore', log, log] });
  fs.closeSync(log);
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.on('connect', () => {
        sock.destroy();
        r(true);
      });
      sock.on('error', () => r(false));
    });
    if (up) return { port, proc };
    await sleep(100);
  }
  proc.kill();
  throw new Error(`sshd did not start: ${fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8')}`);
}
