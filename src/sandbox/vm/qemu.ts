import os from 'node:os';
import type { Accel } from './tools.js';
import { program } from './tools.js';

export interface QemuDisk {
  file: string;
  serial: string;
  readonly: boolean;
}

export interface QemuMachine {
  accel: Accel;
  kernel: string;
  initrd: string;
  memoryMb: number;
  cpus: number;
  disks: QemuDisk[];
}

/** The guest's memory: the build's memory limit, but at least enough to boot and at most what a build VM sensibly gets. */
export function guestMemoryMb(limitMb: number): number {
  return Math.max(512, Math.min(limitMb, 2048));
}

export function guestCpus(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** qemu's -drive parser splits on commas; a doubled comma is a literal one. */
function optionValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/**
 * The qemu command line: a microvm (no firmware to speak of, no PCI, no emulated legacy
 * devices beyond the serial port) with nothing but the given virtio disks. No network
 * device at all; the serial console is qemu's stdout; a guest reset ends qemu.
 */
export function qemuArgv(m: QemuMachine): string[] {
  const argv = [
    program('qemu-system-x86_64'),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-M',
    'microvm,pit=on,pic=on,rtc=on',
    ...m.accel.args,
    '-m',
    `${m.memoryMb}M`,
    '-smp',
    String(m.cpus),
    '-nic',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    // seccomp: no exec, no privilege changes, no obsolete syscalls, no scheduler games.
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-kernel',
    m.kernel,
    '-initrd',
    m.initrd,
    '-append',
    ['console=ttyS0', 'panic=-1', 'loglevel=4', 'pci=off', 'edd=off', 'rdinit=/init', ...m.accel.kernelArgs].join(' '),
  ];
  m.disks.forEach((d, i) => {
    argv.push(
      '-drive',
      `file=${optionValue(d.file)},format=raw,if=none,id=disk${i},cache=writeback${d.readonly ? ',readonly=on' : ''}`,
      '-device',
      `virtio-blk-device,drive=disk${i},serial=${d.serial}`,
    );
  });
  return argv;
}
