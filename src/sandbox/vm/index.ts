import fs from 'node:fs';
import path from 'node:path';
import { PocketbuildError } from '../../util/errors.js';
import { run, type RunResult } from '../../util/run.js';
import type { SandboxOptions } from '../options.js';
import { cpioArchive, type CpioEntry } from './cpio.js';
import { consoleLog, stripCarriageReturns } from './console-log.js';
import { makeScratchImage, makeTreeImage, ensureRootImage } from './disk-image.js';
import { ensureGuestKernel, type GuestKernel } from './guest-kernel.js';
import { GUEST_BANNER, GUEST_INIT, JOB_DIR, SERIAL } from './guest-init.js';
import { readOutputStream } from './output-stream.js';
import { guestCpus, guestMemoryMb, qemuArgv, type QemuDisk } from './qemu.js';
import { chooseAccel, tcg, vmSandboxProblem } from './tools.js';
import { confinedArgv } from '../host-tool.js';

export { vmSandboxProblem } from './tools.js';

/** Most files a build may return; a real upload has a handful. */
const MAX_OUTPUT_FILES = 1000;
const MiB = 1024 * 1024;

/**
 * Run `argv` in a disposable virtual machine: the same inputs and results as the userns
 * backend, but the build shares no kernel with the host. The guest boots from a pristine
 * read-only image of the base; its only writable storage is a fresh scratch disk (the disk
 * limit); inputs arrive as read-only disk images; the outputs and the exit status come back
 * as one framed stream on a raw disk that is parsed strictly here, never mounted. No network
 * device exists. qemu is a child of run(): bounded in time, killed on cancel, always reaped.
 */
export async function runInVmSandbox(o: SandboxOptions): Promise<RunResult> {
  const problem = vmSandboxProblem();
  if (problem) throw new PocketbuildError('SandboxUnavailable', problem);
  // Layers are overlayfs directories of the host; the guest boots one image of the base.
  if (o.layers?.length || o.keepUpper)
    throw new PocketbuildError('VmBindsUnsupported', 'the vm sandbox takes no cached layers over its base image.');
  const outputs = o.binds.filter((b) => b.writable);
  const inputs = o.binds.filter((b) => !b.writable);
  if (outputs.length !== 1)
    throw new PocketbuildError(
      'VmBindsUnsupported',
      `the vm sandbox takes exactly one writable directory (its outputs), not ${outputs.length}.`,
    );
  for (const b of o.binds) {
    if (!/^\/[A-Za-z0-9._/-]*$/.test(b.inside) || b.inside.split('/').includes('..')) {
      throw new PocketbuildError(
        'VmBindsUnsupported',
        `the vm sandbox cannot place a directory at ${JSON.stringify(b.inside)}; use a plain absolute path.`,
      );
    }
  }
  const kernel = await ensureGuestKernel({ cacheDir: o.cacheDir, base: o.base, log: o.log });
  const rootImage = await ensureRootImage({ cacheDir: o.cacheDir, baseDigest: o.baseDigest, base: o.base, log: o.log });

  const started = Date.now();
  fs.rmSync(o.scratch, { recursive: true, force: true });
  fs.mkdirSync(o.scratch, { recursive: true });
  try {
    const seed = path.join(o.scratch, 'seed');
    writeJob(
      path.join(seed, JOB_DIR),
      o,
      inputs.map((b) => b.inside),
      outputs[0]!.inside,
    );
    const initrd = path.join(o.scratch, 'initrd.cpio');
    fs.writeFileSync(initrd, initramfs(kernel));

    const disks: QemuDisk[] = [{ file: rootImage, serial: SERIAL.root, readonly: true }];
    for (const [i, b] of inputs.entries()) {
      const file = path.join(o.scratch, `input${i}.ext4`);
      await makeTreeImage(b.host, file, { label: SERIAL.input(i), log: o.log });
      disks.push({ file, serial: SERIAL.input(i), readonly: true });
    }
    const scratchDisk = path.join(o.scratch, 'scratch.ext4');
    await makeScratchImage(seed, scratchDisk, o.limits.diskMb, o.log);
    disks.push({ file: scratchDisk, serial: SERIAL.scratch, readonly: false });
    // Room for every byte the limit allows plus the frame headers; the guest cannot write past the end.
    const outDisk = path.join(o.scratch, 'output.raw');
    fs.writeFileSync(outDisk, '');
    fs.truncateSync(outDisk, o.limits.diskMb * MiB + MiB);
    disks.push({ file: outDisk, serial: SERIAL.out, readonly: false });

    let accel = chooseAccel();
    const machine = {
      accel,
      kernel: kernel.vmlinuz,
      initrd,
      memoryMb: guestMemoryMb(o.limits.memoryMb),
      cpus: guestCpus(),
      disks,
    };
    const boot = async (): Promise<RunResult> => {
      o.log.write(
        `vm: booting guest kernel ${kernel.version} with accel ${accel.name} (${accel.why}${accel.name === 'tcg' ? '; software emulation, expect builds to be much slower than in the userns sandbox' : ''}), ${machine.memoryMb} MB, ${machine.cpus} cpus, ${o.limits.diskMb} MB disk\n`,
      );
      // qemu itself parses what a hostile guest does to its devices: confine it too, to the
      // files of this VM (and /dev/kvm), with seccomp (-sandbox) inside.
      const confinement = {
        binds: [{ path: path.dirname(kernel.vmlinuz) }, { path: rootImage }, { path: o.scratch, writable: true }],
        devices: accel.name === 'kvm' ? ['/dev/kvm'] : [],
      };
      return run(confinedArgv(qemuArgv({ ...machine, accel }), confinement), {
        timeoutMs: Math.max(1000, o.limits.timeoutMs - (Date.now() - started)),
        log: consoleLog(o.log),
        signal: o.signal,
        graceMs: 3000,
      });
    };
    let r = await boot();
    if (accel.name === 'kvm' && r.code !== 0 && !r.timedOut && !r.cancelled && !r.stdout.includes(GUEST_BANNER)) {
      o.log.write(`vm: qemu ${r.how} with KVM before the guest started; trying again with software emulation\n`);
      accel = tcg('KVM did not start');
      r = await boot();
    }
    const stdout = stripCarriageReturns(r.stdout);
    // qemu exits 0 on SIGTERM; a killed VM must not look like a build that succeeded.
    if (r.timedOut || r.cancelled) return { ...r, stdout, code: null };
    if (r.code !== 0) return { ...r, stdout, how: `ended because qemu ${r.how}` };
    const report = readOutputStream(outDisk, outputs[0]!.host, {
      maxBytes: o.limits.diskMb * MiB,
      maxFiles: MAX_OUTPUT_FILES,
    });
    if (!report.reported) {
      return {
        ...r,
        stdout,
        code: null,
        how: 'ended without reporting an exit status (the VM console output above says why)',
      };
    }
    const bytes = report.files.reduce((n, f) => n + f.size, 0);
    o.log.write(
      `vm: the guest returned ${report.files.length} files (${bytes} bytes) and exit status ${report.status}; ran ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    return { ...r, stdout, code: report.status, signal: null, how: `exited with status ${report.status} in the VM` };
  } finally {
    fs.rmSync(o.scratch, { recursive: true, force: true });
  }
}

/**
 * The run's job as files (one value per file, numbered in order), which the guest init
 * reads back byte for byte: arbitrary text such as a whole shell script needs no quoting.
 */
function writeJob(dir: string, o: SandboxOptions, inputs: string[], out: string): void {
  const list = (name: string, values: string[]) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { recursive: true });
    if (values.length > 999)
      throw new PocketbuildError(
        'VmJobTooLarge',
        `the vm sandbox takes at most 999 ${name} entries, not ${values.length}.`,
      );
    values.forEach((v, i) => fs.writeFileSync(path.join(d, String(i).padStart(3, '0')), v));
  };
  for (const [k, v] of Object.entries(o.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw new PocketbuildError(
        'VmJobTooLarge',
        `the environment variable name ${JSON.stringify(k)} cannot be passed into the VM.`,
      );
    if (v.includes('\0')) throw new PocketbuildError('VmJobTooLarge', `the value of ${k} contains a NUL byte.`);
  }
  // env(1) starts the command in the guest and would take a first word with "=" for a variable.
  if (!o.argv.length || o.argv[0]!.includes('=') || o.argv.some((a) => a.includes('\0'))) {
    throw new PocketbuildError(
      'VmJobTooLarge',
      'the command for the VM is empty, starts with a word containing "=", or contains a NUL byte.',
    );
  }
  list(
    'env',
    Object.entries(o.env).map(([k, v]) => `${k}=${v}`),
  );
  list('argv', o.argv);
  list('binds', inputs);
  fs.writeFileSync(path.join(dir, 'out'), out);
  fs.writeFileSync(path.join(dir, 'nproc'), String(o.limits.processes));
  fs.writeFileSync(path.join(dir, 'cpu'), String(o.limits.cpuSeconds));
}

/** A tiny initramfs: busybox, the init script and the few modules it loads. Made per run (milliseconds) so it always matches this code. */
function initramfs(k: GuestKernel): Buffer {
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'etc', 'etc/pocketbuild', 'lib', 'lib/modules', 'proc', 'sys'].map((name) => ({
      kind: 'dir' as const,
      name,
    })),
    { kind: 'chardev', name: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', name: 'bin/busybox', data: fs.readFileSync(k.busybox), mode: 0o755 },
    { kind: 'file', name: 'init', data: Buffer.from(GUEST_INIT), mode: 0o755 },
    {
      kind: 'file',
      name: 'etc/pocketbuild/modules',
      data: Buffer.from(k.modules.map((m) => m.name).join('\n') + '\n'),
    },
    ...k.modules.map((m) => ({
      kind: 'file' as const,
      name: `lib/modules/${m.name}.ko`,
      data: fs.readFileSync(m.file),
    })),
  ];
  return cpioArchive(entries);
}
