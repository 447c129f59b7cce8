import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Writable } from 'node:stream';
import { PocketbuildError } from '../../util/errors.js';
import { withLock } from '../../util/lock.js';
import { runChecked } from '../../util/run.js';
import { writeFileAtomic } from '../../util/fs-atomic.js';
import { canonicalModuleName, moduleDependencies } from './modinfo.js';
import { writePrivateAptConfig } from '../../debian/private-apt.js';

/** What the guest boots: a Debian kernel, the busybox for its initramfs, and the modules it loads. */
export interface GuestKernel {
  version: string;
  vmlinuz: string;
  busybox: string;
  /** Module files (decompressed), in the order they must be loaded. */
  modules: Array<{ name: string; file: string }>;
}

/** Drivers the guest init needs: virtio-mmio disks (microvm), ext4 and overlayfs; their dependencies come along. */
const ROOT_MODULES = ['virtio_mmio', 'virtio_blk', 'ext4', 'overlay'];
/** The cloud flavour: small, made for virtual machines, with virtio drivers. */
const KERNEL_META = 'linux-image-cloud-amd64';

export class GuestKernelUnavailable extends PocketbuildError {
  constructor(why: string) {
    super('GuestKernelUnavailable', `cannot prepare the vm sandbox's guest kernel: ${why}`);
  }
}

interface Ready {
  version: string;
  kernelPackage: string;
  busyboxPackage: string;
  modules: string[];
}

/**
 * The guest kernel, fetched once from the base's own Debian mirror and suite (read from the
 * base's sources.list) as the unprivileged daemon user with a private apt configuration,
 * unpacked with dpkg-deb, and kept in `<cacheDir>/vm/kernel/`. The `ready` file is written
 * last, under a lock, so concurrent first uses share one download and a half-made kernel
 * directory is never used.
 */
export async function ensureGuestKernel(o: { cacheDir: string; base: string; log: Writable }): Promise<GuestKernel> {
  const dir = path.join(o.cacheDir, 'vm', 'kernel');
  const readyFile = path.join(dir, 'ready');
  const read = (): GuestKernel => {
    const r = JSON.parse(fs.readFileSync(readyFile, 'utf8')) as Ready;
    return {
      version: r.version,
      vmlinuz: path.join(dir, 'vmlinuz'),
      busybox: path.join(dir, 'busybox'),
      modules: r.modules.map((name) => ({ name, file: path.join(dir, 'modules', `${name}.ko`) })),
    };
  };
  if (fs.existsSync(readyFile)) return read();
  fs.mkdirSync(dir, { recursive: true });
  return withLock(dir, async () => {
    if (fs.existsSync(readyFile)) return read();
    const started = Date.now();
    const { mirror, suite } = baseArchive(o.base);
    o.log.write(
      `vm: fetching the guest kernel (${KERNEL_META}) and busybox-static from ${mirror} ${suite}; first use only\n`,
    );
    for (const d of ['debs', 'extract', 'modules']) fs.rmSync(path.join(dir, d), { recursive: true, force: true });
    const aptDir = path.join(dir, 'apt');
    fs.mkdirSync(aptDir, { recursive: true });
    fs.writeFileSync(path.join(aptDir, 'status'), ''); // plan against nothing installed: we only download
    const aptConf = writePrivateAptConfig({
      dir: aptDir,
      status: path.join(aptDir, 'status'),
      sources: [
        {
          uri: mirror,
          suite,
          components: ['main'],
          signedBy: path.join(o.base, 'usr/share/keyrings/debian-archive-keyring.gpg'),
        },
      ],
      options: { 'APT::Architecture': 'amd64' },
    });
    const env = { ...process.env, APT_CONFIG: aptConf, LC_ALL: 'C.UTF-8' };
    const opts = { env, log: o.log, timeoutMs: 15 * 60_000 };
    await runChecked(['apt-get', '-q', 'update'], { ...opts, what: 'apt-get update (guest kernel)' });
    const meta = await runChecked(['apt-cache', 'show', '--no-all-versions', KERNEL_META], {
      env,
      timeoutMs: 60_000,
      what: `apt-cache show ${KERNEL_META}`,
    });
    const kernelPackage = /^Depends:.*?\b(linux-image-[0-9][^\s,()]*)/m.exec(meta.stdout)?.[1];
    if (!kernelPackage)
      throw new GuestKernelUnavailable(`${KERNEL_META} in ${suite} does not depend on a linux-image-VERSION package`);
    const debs = path.join(dir, 'debs');
    fs.mkdirSync(debs);
    await runChecked(['apt-get', '-q', 'download', kernelPackage, 'busybox-static'], {
      ...opts,
      cwd: debs,
      what: 'apt-get download (guest kernel)',
    });
    const find = (prefix: string) => {
      const f = fs.readdirSync(debs).find((n) => n.startsWith(prefix + '_') && n.endsWith('.deb'));
      if (!f) throw new GuestKernelUnavailable(`apt-get download left no ${prefix} package`);
      return path.join(debs, f);
    };
    const extract = path.join(dir, 'extract');
    for (const [deb, to] of [
      [find(kernelPackage), 'kernel'],
      [find('busybox-static'), 'busybox'],
    ] as const) {
      fs.mkdirSync(path.join(extract, to), { recursive: true });
      await runChecked(['dpkg-deb', '-x', deb, path.join(extract, to)], {
        timeoutMs: 10 * 60_000,
        log: o.log,
        what: `dpkg-deb -x ${path.basename(deb)}`,
      });
    }
    const version = kernelPackage.slice('linux-image-'.length);
    const kroot = path.join(extract, 'kernel');
    const vmlinuz = path.join(kroot, 'boot', `vmlinuz-${version}`);
    if (!fs.existsSync(vmlinuz)) throw new GuestKernelUnavailable(`${kernelPackage} has no boot/vmlinuz-${version}`);
    const busybox = path.join(extract, 'busybox', 'bin', 'busybox');
    if (!fs.existsSync(busybox)) throw new GuestKernelUnavailable('busybox-static has no bin/busybox');

    const modules = await resolveModules(path.join(kroot, 'lib', 'modules', version), ROOT_MODULES);
    fs.mkdirSync(path.join(dir, 'modules'));
    for (const m of modules)
      fs.writeFileSync(path.join(dir, 'modules', `${m.name}.ko`), await decompressModule(m.file));
    fs.copyFileSync(vmlinuz, path.join(dir, 'vmlinuz'));
    fs.copyFileSync(busybox, path.join(dir, 'busybox'));
    fs.rmSync(extract, { recursive: true, force: true });
    fs.rmSync(debs, { recursive: true, force: true });
    const ready: Ready = {
      version,
      kernelPackage,
      busyboxPackage: 'busybox-static',
      modules: modules.map((m) => m.name),
    };
    writeFileAtomic(readyFile, JSON.stringify(ready, null, 2) + '\n');
    o.log.write(
      `vm: guest kernel ${version} ready in ${((Date.now() - started) / 1000).toFixed(1)} s (modules: ${ready.modules.join(' ') || 'none'})\n`,
    );
    return read();
  });
}

/** The mirror and suite the base was made from: its first `deb` line. */
function baseArchive(base: string): { mirror: string; suite: string } {
  const file = path.join(base, 'etc/apt/sources.list');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new GuestKernelUnavailable(
      `cannot read ${file}, which names the mirror the guest kernel comes from; remove the base image from the cache so it is made again`,
    );
  }
  const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/m.exec(text);
  if (!m)
    throw new GuestKernelUnavailable(
      `${file} has no "deb MIRROR SUITE" line; remove the base image from the cache so it is made again`,
    );
  return { mirror: m[1]!, suite: m[2]! };
}

/**
 * The modules to load for `wanted`, dependencies first. Built into the kernel
 * (modules.builtin) means nothing to load; a hard dependency that is missing is an error,
 * a soft one (often an alias such as "crc32c") is skipped.
 */
export async function resolveModules(
  moduleDir: string,
  wanted: string[],
): Promise<Array<{ name: string; file: string }>> {
  const builtin = new Set<string>();
  const builtinFile = path.join(moduleDir, 'modules.builtin');
  if (fs.existsSync(builtinFile)) {
    for (const line of fs.readFileSync(builtinFile, 'utf8').split('\n')) if (line) builtin.add(moduleNameOf(line));
  }
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.(xz|gz))?$/.test(e.name)) files.set(moduleNameOf(e.name), p);
    }
  };
  walk(path.join(moduleDir, 'kernel'));
  const order: Array<{ name: string; file: string }> = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = async (name: string, hard: boolean, via: string): Promise<void> => {
    if (builtin.has(name) || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting')
      throw new GuestKernelUnavailable(`kernel modules depend on each other in a cycle through ${name}`);
    const file = files.get(name);
    if (!file) {
      if (hard)
        throw new GuestKernelUnavailable(
          `the kernel has no module ${name} (needed by ${via}) and does not build it in`,
        );
      return;
    }
    state.set(name, 'visiting');
    const ko = await decompressModule(file);
    const hardDeps = new Set(moduleDependencies(ko, { softToo: false }));
    for (const dep of moduleDependencies(ko, { softToo: true })) await visit(dep, hardDeps.has(dep), name);
    state.set(name, 'done');
    order.push({ name, file });
  };
  for (const w of wanted) await visit(canonicalModuleName(w), true, 'the guest init');
  return order;
}

function moduleNameOf(fileOrPath: string): string {
  return canonicalModuleName(path.basename(fileOrPath).replace(/\.ko(\.\w+)?$/, ''));
}

/** busybox insmod loads plain ELF; Debian has shipped modules plain, gzip'd or xz'd at times. */
async function decompressModule(file: string): Promise<Buffer> {
  if (file.endsWith('.ko')) return fs.readFileSync(file);
  if (file.endsWith('.gz')) return zlib.gunzipSync(fs.readFileSync(file));
  const plain = file.replace(/\.xz$/, '');
  if (!fs.existsSync(plain))
    await runChecked(['xz', '-d', '-k', file], { timeoutMs: 60_000, what: `xz -d ${path.basename(file)}` });
  return fs.readFileSync(plain);
}
