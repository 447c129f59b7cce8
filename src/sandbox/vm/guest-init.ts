import { STREAM_MAGIC } from './output-stream.js';

/** The line the guest prints first; the host looks for it to tell "qemu never booted" from "the build failed". */
export const GUEST_BANNER = 'pocketbuild-vm: guest kernel';

/** Disk serial numbers: how the guest finds each disk whatever order the kernel probes them in. */
export const SERIAL = {
  root: 'pbroot',
  scratch: 'pbscratch',
  out: 'pbout',
  input: (i: number) => `pbin${String(i).padStart(3, '0')}`,
} as const;

/** Where the job (argv, env, mount points) sits on the scratch disk, written there by the host. */
export const JOB_DIR = 'job';

/**
 * PID 1 of the build VM (busybox sh, from the initramfs). Fixed text: everything that
 * varies arrives as files in /job on the scratch disk, read back byte-exact, never spliced
 * into a command line.
 *
 * The root filesystem is the read-only base image under an overlay whose upper layer is
 * the scratch disk (its size is the disk limit). Read-only inputs are their own read-only
 * disks. The build runs chrooted with only the given environment and a minimal /dev (no disks).
 * When it ends, everything else is killed, the top-level regular files of the output
 * directory are framed onto the raw output disk with the exit status last, and the VM
 * powers off, which ends qemu. (A reset does not reliably end a TCG microvm even with
 * -no-reboot; a kernel panic still resets, as a last resort before the timeout.)
 */
export const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "pocketbuild-vm: $*"; }
OUT_DEV= OUT_DIR=

report() {
  kill -9 -1 2>/dev/null
  sleep 1
  sync
  if [ -n "$OUT_DEV" ]; then
    {
      printf '${STREAM_MAGIC.trimEnd()}\\n'
      if [ -n "$OUT_DIR" ] && [ -d "$OUT_DIR" ]; then
        for f in "$OUT_DIR"/*; do
          [ -f "$f" ] && [ ! -L "$f" ] || continue
          name=\${f##*/}
          case "$name" in
            [A-Za-z0-9]*) ;;
            *) say "not returning $name (not a plain file name)" >&2; continue ;;
          esac
          case "$name" in
            *[!A-Za-z0-9._+~-]*) say "not returning $name (not a plain file name)" >&2; continue ;;
          esac
          size=$(stat -c %s "$f")
          printf 'F %s %s\\n' "$name" "$size"
          head -c "$size" "$f"
        done
      fi
      printf 'E %s\\n' "$1"
    } > "$OUT_DEV"
    sync
    blockdev --flushbufs "$OUT_DEV" 2>/dev/null
  fi
  say "powering off"
  poweroff -f
  sleep 60
}
die() { say "guest setup failed: $*"; report 125; }

say "guest kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MB memory"
for m in $(cat /etc/pocketbuild/modules); do
  insmod "/lib/modules/$m.ko" || die "cannot load kernel module $m"
done

disk() {
  tries=0
  while [ $tries -lt 300 ]; do
    for d in /sys/block/vd*; do
      if [ -e "$d/serial" ] && [ "$(cat "$d/serial")" = "$1" ]; then echo "/dev/\${d##*/}"; return 0; fi
    done
    sleep 0.1
    tries=$((tries + 1))
  done
  return 1
}

OUT_DEV=$(disk ${SERIAL.out}) || die "no output disk"
SCRATCH_DEV=$(disk ${SERIAL.scratch}) || die "no scratch disk"
ROOT_DEV=$(disk ${SERIAL.root}) || die "no root disk"
mkdir -p /lower /scratch /newroot
mount -t ext4 -o ro "$ROOT_DEV" /lower || die "cannot mount the root image"
mount -t ext4 -o noinit_itable "$SCRATCH_DEV" /scratch || die "cannot mount the scratch disk"
J=/scratch/${JOB_DIR}
mkdir -p /scratch/upper /scratch/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/scratch/upper,workdir=/scratch/work /newroot || die "cannot mount the overlay root"

for f in "$J"/binds/*; do
  [ -e "$f" ] || continue
  n=\${f##*/}
  inside=$(cat "$f")
  dev=$(disk "pbin$n") || die "no disk for $inside"
  mkdir -p "/newroot$inside"
  mount -t ext4 -o ro "$dev" "/newroot$inside" || die "cannot mount $inside"
done
OUT_DIR=/newroot$(cat "$J/out")
mkdir -p "$OUT_DIR"

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs -o ro sysfs $R/sys
mount -t tmpfs -o mode=755,size=1m dev $R/dev
mknod -m 666 $R/dev/null c 1 3
mknod -m 666 $R/dev/zero c 1 5
mknod -m 666 $R/dev/full c 1 7
mknod -m 666 $R/dev/random c 1 8
mknod -m 666 $R/dev/urandom c 1 9
mknod -m 666 $R/dev/tty c 5 0
mkdir $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
ln -s pts/ptmx $R/dev/ptmx
mount -t tmpfs -o mode=1777 shm $R/dev/shm
ln -s /proc/self/fd $R/dev/fd
ln -s /proc/self/fd/0 $R/dev/stdin
ln -s /proc/self/fd/1 $R/dev/stdout
ln -s /proc/self/fd/2 $R/dev/stderr
hostname pocketbuild
ulimit -u "$(cat "$J/nproc")" || die "cannot set the process limit"
ulimit -t "$(cat "$J/cpu")" || die "cannot set the CPU time limit"

# The base's own env starts the command: busybox would run its own applets for names like
# "sh" instead of the base's programs.
set -- /usr/bin/env -i --
for f in "$J"/env/*; do
  [ -e "$f" ] || continue
  v=$(cat "$f"; echo x)
  set -- "$@" "\${v%x}"
done
for f in "$J"/argv/*; do
  v=$(cat "$f"; echo x)
  set -- "$@" "\${v%x}"
done
say "running the build"
/bin/busybox chroot /newroot "$@"
status=$?
say "the build exited with status $status"
report $status
`;
