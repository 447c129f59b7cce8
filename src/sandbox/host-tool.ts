import path from 'node:path';
import type { Writable } from 'node:stream';
import { runChecked, type RunResult } from '../util/run.js';

export interface HostToolOptions {
  /** The only host directory the tool sees, read-write, at /work. */
  workDir: string;
  /** Working directory, a path under workDir. */
  cwd: string;
  timeoutMs: number;
  log: Writable;
  what: string;
}

/**
 * Run one of the host's own tools over untrusted data (pristine-tar's deltas come from the
 * package repository) without letting it see anything worth stealing: an unprivileged
 * bubblewrap with the host's /usr read-only, no network, no /home, no state directory, no
 * keys; only `workDir`. Paths in argv that lie under workDir are rewritten to /work.
 */
export async function runHostTool(argv: string[], o: HostToolOptions): Promise<RunResult> {
  const inside = (p: string) => {
    const rel = path.relative(o.workDir, p);
    return rel.startsWith('..') || path.isAbsolute(rel) ? p : path.posix.join('/work', rel);
  };
  const bwrap = [
    'bwrap', '--unshare-all', '--die-with-parent', '--new-session', '--clearenv',
    '--setenv', 'PATH', '/usr/bin:/bin', '--setenv', 'HOME', '/tmp', '--setenv', 'LC_ALL', 'C.UTF-8',
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/sbin', '/sbin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
    // What the dynamic linker and Debian's alternatives need; nothing else of /etc.
    '--ro-bind', '/etc/alternatives', '/etc/alternatives', '--ro-bind', '/etc/ld.so.cache', '/etc/ld.so.cache',
    '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    '--bind', o.workDir, '/work', '--chdir', inside(o.cwd),
    '--', ...argv.map((a) => (a.startsWith('/') ? inside(a) : a)),
  ];
  return runChecked(bwrap, { timeoutMs: o.timeoutMs, log: o.log, what: o.what });
}
