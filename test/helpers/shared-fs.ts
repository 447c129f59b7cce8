import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startSshd } from './ssh.js';
import { testUser } from './env.js';

/**
 * A directory shared over a real network file system: sshfs (SFTP over a loopback ssh
 * connection to an OpenSSH sshd run as the test user, which owns the files), mounted as many
 * times as there are "hosts". FUSE needs root (/dev/fuse is root's here); `allow_other` lets
 * the test user's daemons and their sandboxes use the mounts. Every cache sshfs has is off, as
 * docs/several-hosts.md asks of a production mount, so what one mount writes the next read on
 * another mount sees.
 */
export class SharedFileSystem {
  private sshd?: ChildProcess;
  private port = 0;
  private readonly dir: string;
  private readonly mounts: string[] = [];

  /** `exported` is the directory every mount shows; `root` holds the server's files. */
  constructor(
    root: string,
    readonly exported: string,
  ) {
    this.dir = path.join(root, 'sftp-server');
    fs.mkdirSync(this.dir, { recursive: true });
    // The client key is root's (sshfs runs as root); the server reads only the public half.
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(this.dir, 'client_key')]);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(this.dir, 'host_key')]);
    fs.copyFileSync(path.join(this.dir, 'client_key.pub'), path.join(this.dir, 'authorized_keys'));
    const u = testUser();
    for (const f of ['host_key', 'host_key.pub', 'authorized_keys']) fs.chownSync(path.join(this.dir, f), u.uid, u.gid);
    fs.chownSync(this.dir, u.uid, u.gid); // sshd (the test user) writes its config, pid and log here
  }

  async start(): Promise<void> {
    const { port, proc } = await startSshd(this.dir, [
      `AuthorizedKeysFile ${path.join(this.dir, 'authorized_keys')}`,
      'Subsystem sftp internal-sftp',
      'ForceCommand internal-sftp',
    ]);
    this.port = port;
    this.sshd = proc;
  }

  /** Mount the shared directory at `at` (made if missing, owned by the test user). */
  mount(at: string): void {
    fs.mkdirSync(at, { recursive: true });
    const u = testUser();
    fs.chownSync(at, u.uid, u.gid);
    const r = spawnSync(
      'sshfs',
      [
        '-o',
        [
          `port=${this.port}`,
          `IdentityFile=${path.join(this.dir, 'client_key')}`,
          'StrictHostKeyChecking=no',
          'UserKnownHostsFile=/dev/null',
          'LogLevel=ERROR',
          'allow_other',
          'cache=no',
          'dir_cache=no',
          'reconnect',
        ].join(','),
        `${u.name}@127.0.0.1:${this.exported}`,
        at,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0) throw new Error(`sshfs could not mount ${at}: ${r.stderr}`);
    this.mounts.push(at);
  }

  async stop(): Promise<void> {
    for (const m of this.mounts.splice(0)) {
      // A daemon killed mid-build may leave a process with a file open there: detach lazily.
      const r = spawnSync('fusermount3', ['-u', m], { encoding: 'utf8', timeout: 30_000 });
      if (r.status !== 0) spawnSync('umount', ['-l', m], { timeout: 30_000 });
    }
    this.sshd?.kill('SIGTERM');
  }
}

/** Whether this machine can run the test: root (for FUSE), sshfs and sshd installed. */
export function canMountSshfs(): string | null {
  if (process.getuid?.() !== 0) return 'mounting FUSE needs root here';
  for (const tool of ['/usr/bin/sshfs', '/usr/sbin/sshd']) if (!fs.existsSync(tool)) return `${tool} is not installed`;
  if (!fs.existsSync('/dev/fuse')) return 'this kernel has no /dev/fuse';
  return null;
}
