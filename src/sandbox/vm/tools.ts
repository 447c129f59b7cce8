import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostArch } from '../../util/host-arch.js';

/** Host programs the vm backend runs, and the Debian package that has each. */
const NEEDED: Array<{ program: string; pkg: string }> = [
  { program: 'qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { program: 'mke2fs', pkg: 'e2fsprogs' },
  { program: 'debugfs', pkg: 'e2fsprogs' },
  { program: 'dpkg-deb', pkg: 'dpkg' },
  { program: 'apt-get', pkg: 'apt' },
  { program: 'unshare', pkg: 'util-linux' },
];

/** The firmware `-M microvm` loads; in qemu-system-data, which qemu-system-x86 depends on. */
const MICROVM_BIOS = '/usr/share/qemu/bios-microvm.bin';

/**
 * The absolute path of a program, looked up in PATH and then in the sbin directories, which
 * an unprivileged daemon's PATH often lacks (mke2fs lives there).
 */
export function findProgram(name: string): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(':').filter(Boolean),
    '/usr/local/sbin',
    '/usr/sbin',
    '/sbin',
    '/usr/bin',
    '/bin',
  ];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function program(name: string): string {
  return findProgram(name) ?? name;
}

/** Why the vm backend cannot run on this host (one sentence saying what to install), or undefined if it can. */
export function vmSandboxProblem(): string | undefined {
  if (hostArch() !== 'amd64')
    return `the vm sandbox supports amd64 hosts only, and this one is ${hostArch()}; use sandbox: userns.`;
  const missing = NEEDED.filter((n) => !findProgram(n.program));
  if (!fs.existsSync(MICROVM_BIOS)) missing.push({ program: MICROVM_BIOS, pkg: 'qemu-system-data' });
  if (missing.length) {
    return `the vm sandbox needs ${missing.map((m) => m.program).join(', ')}, which this host lacks; as root, run: apt-get install ${[...new Set(missing.map((m) => m.pkg))].join(' ')}`;
  }
  return undefined;
}

export interface Accel {
  /** qemu arguments selecting the accelerator and a CPU model it can run. */
  args: string[];
  /** Added to the guest kernel's command line. */
  kernelArgs: string[];
  name: 'kvm' | 'tcg';
  why: string;
}

/** KVM when this user may open /dev/kvm; otherwise TCG (software emulation: correct, about 15× slower). */
export function chooseAccel(): Accel {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return { args: ['-accel', 'kvm', '-cpu', 'host'], kernelArgs: [], name: 'kvm', why: '/dev/kvm is usable' };
  } catch {
    return tcg(
      fs.existsSync('/dev/kvm')
        ? `/dev/kvm is not readable and writable by uid ${os.userInfo().uid}`
        : 'there is no /dev/kvm',
    );
  }
}

/**
 * Under TCG the guest's TSC is the host's, and calibrating it against the emulated PIT
 * fails now and then on a busy host, after which the guest kernel hangs before it prints
 * anything. Telling it the frequency skips the calibration.
 */
export function tcg(why: string): Accel {
  return { args: ['-accel', 'tcg'], kernelArgs: [`tsc_early_khz=${hostTscKhz()}`], name: 'tcg', why };
}

function hostTscKhz(): number {
  try {
    const khz = Number(fs.readFileSync('/sys/devices/system/cpu/cpu0/tsc_freq_khz', 'utf8').trim());
    if (Number.isInteger(khz) && khz > 0) return khz;
  } catch {
    /* not exported by this kernel */
  }
  try {
    const mhz = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    if (mhz && Number(mhz) > 0) return Math.round(Number(mhz) * 1000);
  } catch {
    /* fall through */
  }
  // Only the guest's early delay loop depends on it; any value avoids the hang.
  return 2_000_000;
}
