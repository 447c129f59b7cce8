import type { Writable } from 'node:stream';
import { runChecked, type RunResult } from '../util/run.js';

/** What a confined host program may see besides the host's /usr: these paths, at the same place. */
export interface Confinement {
  binds: Array<{ path: string; writable?: boolean }>;
  /** Device nodes to pass through (e.g. /dev/kvm). */
  devices?: string[];
  cwd?: string;
}

/**
 * argv wrapped in an unprivileged bubblewrap that shows the host's /usr read-only and only
 * the given paths: no network, no /home, no state directory, no keys, new pid and ipc
 * namespaces, killed with its parent. For host programs that handle untrusted data
 * (pristine-tar over a pushed delta, qemu running a hostile build), so that a bug in them
 * reaches nothing worth stealing.
 */
export function confinedArgv(argv: string[], c: Confinement): string[] {
  const out = [
    'bwrap',
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--setenv',
    'PATH',
    '/usr/bin:/bin',
    '--setenv',
    'HOME',
    '/tmp',
    '--setenv',
    'LC_ALL',
    'C.UTF-8',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    // What the dynamic linker and Debian's alternatives need; nothing else of /etc.
    '--ro-bind',
    '/etc/alternatives',
    '/etc/alternatives',
    '--ro-bind',
    '/etc/ld.so.cache',
    '/etc/ld.so.cache',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
  ];
  for (const b of c.binds) out.push(b.writable ? '--bind' : '--ro-bind', b.path, b.path);
  for (const d of c.devices ?? []) out.push('--dev-bind', d, d);
  if (c.cwd) out.push('--chdir', c.cwd);
  return [...out, '--', ...argv];
}

export interface HostToolOptions {
  /** The only host directory the tool sees (read-write). */
  workDir: string;
  /** Working directory, a path under workDir. */
  cwd: string;
  timeoutMs: number;
  log: Writable;
  what: string;
}

/** Run a host tool over untrusted data where it can see only `workDir`; fails on a non-zero exit. */
export async function runHostTool(argv: string[], o: HostToolOptions): Promise<RunResult> {
  return runChecked(confinedArgv(argv, { binds: [{ path: o.workDir, writable: true }], cwd: o.cwd }), {
    timeoutMs: o.timeoutMs,
    log: o.log,
    what: o.what,
  });
}
