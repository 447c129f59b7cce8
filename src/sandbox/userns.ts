import fs from 'node:fs';
import { PocketbuildError } from '../util/errors.js';
import { run, type RunResult } from '../util/run.js';
import type { SandboxOptions } from './options.js';

/**
 * The outer command that enters a user namespace where uid 0 is the daemon user and 1-65535
 * are its subordinate ids (/etc/subuid), so dpkg can chown and maintainer scripts "run as
 * root" without any real privilege. Needs newuidmap (package uidmap).
 */
export function userNamespaceArgs(): string[] {
  return ['unshare', '--map-auto', '--map-root-user'];
}

/*
 * Runs in the new user+mount namespace, before bwrap. Fixed text: every variable part comes
 * in as a positional argument, never spliced into the script.
 * The upper layer lives on a size-capped tmpfs (the disk limit) that disappears with the
 * namespace; `userxattr` is what lets an unprivileged overlay carry dpkg's renames.
 */
const ENTER = `set -eu
W=$1 BASE=$2 SIZE=$3
shift 3
mount -t tmpfs -o "size=$SIZE,mode=755" pocketbuild-scratch "$W"
mkdir "$W/upper" "$W/work" "$W/root"
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$W/upper,workdir=$W/work,userxattr" "$W/root"
exec bwrap --bind "$W/root" / "$@"`;

/** Characters that would change the meaning of overlayfs' comma-separated mount options. */
const UNSAFE_MOUNT_PATH = /[,:\\\s]/;

/**
 * Run `argv` in a fresh, throw-away root: unprivileged user namespace, overlay over the
 * base, new pid/net/ipc/uts namespaces (no network at all), only the given binds visible,
 * bounded in time, processes, memory and disk. When it ends, everything it started is gone
 * (the pid namespace dies with its init; bwrap dies with its parent).
 */
export async function runInUsernsSandbox(o: SandboxOptions): Promise<RunResult> {
  for (const p of [o.base, o.scratch]) {
    if (UNSAFE_MOUNT_PATH.test(p)) {
      throw new PocketbuildError('UnsafePath', `the path ${p} contains a comma, colon, backslash or blank, which overlayfs cannot take; choose a state_dir/cache_dir without them.`);
    }
  }
  fs.mkdirSync(o.scratch, { recursive: true });
  const bwrap: string[] = [
    '--proc', '/proc',
    '--dev', '/dev',
    '--perms', '1777', '--tmpfs', '/tmp',
    '--tmpfs', '/run',
    '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--hostname', 'pocketbuild',
    '--die-with-parent', '--new-session',
    '--clearenv',
  ];
  for (const b of o.binds) bwrap.push(b.writable ? '--bind' : '--ro-bind', b.host, b.inside);
  for (const [k, v] of Object.entries(o.env)) bwrap.push('--setenv', k, v);
  bwrap.push('--chdir', '/', '--', ...o.argv);
  const argv = [
    'prlimit', `--nproc=${o.limits.processes}`, `--as=${o.limits.memoryMb * 1024 * 1024}`, '--',
    ...userNamespaceArgs(), '--mount', '--fork', '--',
    'sh', '-c', ENTER, 'pocketbuild-sandbox', o.scratch, o.base, `${o.limits.diskMb}m`,
    ...bwrap,
  ];
  try {
    return await run(argv, { timeoutMs: o.limits.timeoutMs, log: o.log, signal: o.signal, graceMs: 3000 });
  } finally {
    // The tmpfs vanished with the namespace; only the empty mount point is left.
    fs.rmSync(o.scratch, { recursive: true, force: true });
  }
}
