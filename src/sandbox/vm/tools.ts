import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostArch } from '../../util/host-arch.js';

/** Host programs the vm backend runs, and the Debian package that has each. */
const NEEDED: Array<{ program: string; pkg: string }> = [
  { program: 'qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { program: 'mke2fs', pkg: 'e2fsprogs' },
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
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
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
  if (hostArch() !== 'amd64') return `the vm sandbox supports amd64 hosts only, and this one is ${hostArch()}; use sandbox: userns.`;
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
  name: 'kvm' | 'tcg';
  why: string;
}

/** KVM when this user may open /dev/kvm; otherwise TCG (software emulation: correct, about 15× slower). */
export function chooseAccel(): Accel {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return { args: ['-accel', 'kvm', '-cpu', 'host'], name: 'kvm', why: '/dev/kvm is usable' };
  } catch {
    const why = fs.existsSync('/dev/kvm') ? `/dev/kvm is not readable and writable by uid ${os.userInfo().uid}` : 'there is no /dev/kvm';
    return { args: ['-accel', 'tcg'], name: 'tcg', why };
  }
}

export function tcg(why: string): Accel {
  return { args: ['-accel', 'tcg'], name: 'tcg', why };
}
