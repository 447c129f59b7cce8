import fs from 'node:fs';
import path from 'node:path';
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
 * Writable binds are directories on that same tmpfs, not host directories: a build (or a
 * build-dependency's maintainer script, running as the namespace's root) could otherwise fill
 * the host's disk through them, or leave files the daemon user can neither read nor delete
 * (owned by a subordinate uid, mode 000). Only after bwrap has returned, when the pid
 * namespace and everything in it is gone, are their top-level regular files copied out with
 * a fixed mode 0644; symlinks, devices, fifos and directories stay behind and are named.
 * LOWER is the base with any cached layers over it, joined with colons as overlayfs wants.
 */
const ENTER = `set -eu
W=$1 LOWER=$2 SIZE=$3 KEEP=$4 N=$5
shift 5
i=0
while [ "$i" -lt "$N" ]; do eval "OUT$i=\\$1"; shift; i=$((i + 1)); done
mount -t tmpfs -o "size=$SIZE,mode=755" pocketbuild-scratch "$W"
mkdir "$W/upper" "$W/work" "$W/root" "$W/rw" "$W/shm"
chmod 1777 "$W/shm"
i=0
while [ "$i" -lt "$N" ]; do mkdir "$W/rw/$i"; i=$((i + 1)); done
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$W/upper,workdir=$W/work,userxattr" "$W/root"
status=0
bwrap --bind "$W/root" / "$@" || status=$?
[ "$status" -eq 0 ] || exit "$status"
i=0
while [ "$i" -lt "$N" ]; do
  eval "to=\\$OUT$i"
  find "$W/rw/$i" -mindepth 1 -maxdepth 1 ! -type f -printf 'pocketbuild: %f is not a regular file; it stays in the sandbox\\n'
  find "$W/rw/$i" -mindepth 1 -maxdepth 1 -type f -exec install -m 0644 -t "$to" -- {} +
  i=$((i + 1))
done
# Copied as the namespace's root, so owners, modes, whiteouts and the user.overlay.* marks
# stay what they are and the copy can be a lower layer of later runs.
[ -z "$KEEP" ] || cp -a "$W/upper/." "$KEEP/"`;

/**
 * Capabilities the namespace's root keeps inside bwrap: file ownership and modes for dpkg,
 * changing ids and dropping the bounding set for the build's setpriv, signalling its own
 * processes. Everything else (mount, sysctl, ptrace of others, raw network...) is dropped.
 */
const KEPT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_SETFCAP',
  'CAP_SYS_CHROOT',
  'CAP_AUDIT_WRITE',
];

/** Characters that would change the meaning of overlayfs' comma-separated mount options. */
const UNSAFE_MOUNT_PATH = /[,:\\\s]/;

/**
 * Run `argv` in a fresh, throw-away root: unprivileged user namespace, overlay over the
 * base, new pid/net/ipc/uts namespaces (no network at all), only the given binds visible,
 * bounded in time, processes, memory and disk. When it ends, everything it started is gone
 * (the pid namespace dies with its init; bwrap dies with its parent).
 */
export async function runInUsernsSandbox(o: SandboxOptions): Promise<RunResult> {
  const lower = [...(o.layers ?? []), o.base];
  for (const p of [...lower, o.scratch, ...(o.keepUpper ? [o.keepUpper] : [])]) {
    if (UNSAFE_MOUNT_PATH.test(p)) {
      throw new PocketbuildError(
        'UnsafePath',
        `the path ${p} contains a comma, colon, backslash or blank, which overlayfs cannot take; choose a state_dir/cache_dir without them.`,
      );
    }
  }
  fs.mkdirSync(o.scratch, { recursive: true });
  const bwrap: string[] = [
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    // /tmp and /run are the overlay's, so they count against the disk limit: bwrap's own
    // --tmpfs has no size, and half of the host's memory is not a limit. /dev/shm likewise
    // comes from the scratch tmpfs, and /dev itself is then read-only (its device nodes stay usable).
    '--bind',
    path.join(o.scratch, 'shm'),
    '/dev/shm',
    '--remount-ro',
    '/dev',
    '--unshare-pid',
    '--unshare-net',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'pocketbuild',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    // The namespace's root needs only what dpkg and maintainer scripts use on files and ids.
    // Without CAP_SYS_ADMIN it can neither remount the read-only binds writable nor mount an
    // unbounded tmpfs of its own; without CAP_SYS_RESOURCE it cannot lift the limits.
    '--cap-drop',
    'ALL',
    ...KEPT_CAPABILITIES.flatMap((c) => ['--cap-add', c]),
  ];
  const copyBack: string[] = [];
  for (const b of o.binds) {
    if (b.writable) {
      bwrap.push('--bind', path.join(o.scratch, 'rw', String(copyBack.length)), b.inside);
      copyBack.push(b.host);
    } else {
      bwrap.push('--ro-bind', b.host, b.inside);
    }
  }
  for (const [k, v] of Object.entries(o.env)) bwrap.push('--setenv', k, v);
  bwrap.push('--chdir', '/', '--', ...o.argv);
  // The limits are set inside the new user namespace, not before it: the kernel counts
  // RLIMIT_NPROC per (user namespace, uid), and checks each parent namespace against the
  // limit its creator had. Set before unshare, the limit would also cap the daemon user's
  // processes in every other sandbox, so one build's fork bomb would starve its neighbours.
  const argv = [
    ...userNamespaceArgs(),
    '--mount',
    '--fork',
    '--',
    // CPU: a soft limit below the hard one, so a process gets SIGXCPU (which says why) before SIGKILL.
    'prlimit',
    `--nproc=${o.limits.processes}`,
    `--as=${o.limits.memoryMb * 1024 * 1024}`,
    `--cpu=${o.limits.cpuSeconds}:${o.limits.cpuSeconds + 5}`,
    '--',
    'sh',
    '-c',
    ENTER,
    'pocketbuild-sandbox',
    o.scratch,
    lower.join(':'),
    `${o.limits.diskMb}m`,
    o.keepUpper ?? '',
    String(copyBack.length),
    ...copyBack,
    ...bwrap,
  ];
  try {
    return await run(argv, { timeoutMs: o.limits.timeoutMs, log: o.log, signal: o.signal, graceMs: 3000 });
  } finally {
    // The tmpfs vanished with the namespace; only the empty mount point is left.
    fs.rmSync(o.scratch, { recursive: true, force: true });
  }
}
