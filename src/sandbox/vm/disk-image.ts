import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { PocketbuildError } from '../../util/errors.js';
import { withLock } from '../../util/lock.js';
import { runChecked } from '../../util/run.js';
import { writeFileAtomic } from '../../util/fs-atomic.js';
import { userNamespaceArgs } from '../userns.js';
import { program } from './tools.js';

/**
 * An ext4 image holding a copy of `dir`, made with `mke2fs -d` inside a user namespace so
 * that files owned by the daemon's subordinate ids (a base root) can all be read and keep
 * their owners, and the daemon user's own files appear owned by root, as in the userns
 * backend. No journal: the image is only ever attached read-only.
 */
export async function makeTreeImage(
  dir: string,
  file: string,
  o: { label: string; log: Writable; timeoutMs?: number },
): Promise<void> {
  if (!fs.statSync(dir).isDirectory())
    throw new PocketbuildError(
      'VmBindNotDirectory',
      `the vm sandbox can only pass directories in, and ${dir} is not one.`,
    );
  const timeoutMs = o.timeoutMs ?? 20 * 60_000;
  const ns = userNamespaceArgs();
  const du = await runChecked([...ns, 'du', '-s', '-x', '-k', dir], { timeoutMs, what: `measuring ${dir}` });
  const inodes = await runChecked([...ns, 'du', '-s', '-x', '--inodes', dir], {
    timeoutMs,
    what: `counting the files of ${dir}`,
  });
  const kb = Number(du.stdout.trim().split(/\s+/)[0]);
  const count = Number(inodes.stdout.trim().split(/\s+/)[0]);
  if (!Number.isFinite(kb) || !Number.isFinite(count))
    throw new PocketbuildError(
      'VmImageFailed',
      `cannot measure ${dir} for its disk image (du said ${JSON.stringify(du.stdout.trim())}).`,
    );
  // Room for ext4's metadata (inode tables, directories, bitmaps) on top of the data.
  const mb = Math.ceil((kb * 1.15 + count * 0.5) / 1024) + 32;
  fs.rmSync(file, { force: true });
  await runChecked(
    [
      ...ns,
      program('mke2fs'),
      '-q',
      '-t',
      'ext4',
      '-O',
      '^has_journal',
      '-m',
      '0',
      '-N',
      String(Math.ceil(count * 1.1) + 1024),
      '-E',
      'lazy_itable_init=1,nodiscard',
      '-L',
      o.label,
      '-d',
      dir,
      file,
      `${mb}M`,
    ],
    { timeoutMs, log: o.log, what: `mke2fs -d ${dir}` },
  );
  // mke2fs always adds lost+found; an input directory should hold exactly what the host put there.
  if (!fs.existsSync(path.join(dir, 'lost+found'))) {
    await runChecked([program('debugfs'), '-w', '-R', 'rmdir lost+found', file], {
      timeoutMs: 60_000,
      what: 'debugfs (removing lost+found)',
    });
  }
}

/**
 * An empty ext4 disk of `mb` megabytes (a sparse file) that starts out holding `seed`: the
 * guest's writable space, so its size is the build's disk limit. Made fresh for every run
 * and never read back on the host.
 */
export async function makeScratchImage(seed: string, file: string, mb: number, log: Writable): Promise<void> {
  fs.rmSync(file, { force: true });
  await runChecked(
    [
      program('mke2fs'),
      '-q',
      '-t',
      'ext4',
      '-O',
      '^has_journal',
      '-m',
      '0',
      '-E',
      'lazy_itable_init=1,nodiscard',
      '-L',
      'pbscratch',
      '-d',
      seed,
      file,
      `${mb}M`,
    ],
    { timeoutMs: 10 * 60_000, log, what: 'mke2fs (scratch disk)' },
  );
}

/**
 * The base root as a read-only ext4 image, made once per base digest under
 * `<cacheDir>/vm/<digest>/` and shared by every build: qemu attaches it read-only, so no
 * build can change it. `ready` is written last, under a lock, as for the base itself.
 */
export async function ensureRootImage(o: {
  cacheDir: string;
  baseDigest: string;
  base: string;
  log: Writable;
}): Promise<string> {
  if (!/^[0-9a-f]{16,128}$/.test(o.baseDigest))
    throw new PocketbuildError('VmImageFailed', `the base digest ${JSON.stringify(o.baseDigest)} is not a hex digest.`);
  const dir = path.join(o.cacheDir, 'vm', o.baseDigest);
  const image = path.join(dir, 'root.ext4');
  const ready = path.join(dir, 'ready');
  if (fs.existsSync(ready)) return image;
  fs.mkdirSync(dir, { recursive: true });
  return withLock(dir, async () => {
    if (fs.existsSync(ready)) return image;
    const started = Date.now();
    o.log.write(`vm: making the root disk image of base ${o.baseDigest.slice(0, 16)}… (first use of this base only)\n`);
    const partial = path.join(dir, 'root.ext4.partial');
    await makeTreeImage(o.base, partial, { label: 'pbroot', log: o.log });
    fs.renameSync(partial, image);
    writeFileAtomic(ready, `${new Date().toISOString()}\n`);
    o.log.write(
      `vm: root disk image ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${Math.round(fs.statSync(image).size / 1e6)} MB)\n`,
    );
    return image;
  });
}
