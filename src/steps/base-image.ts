import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { STALE_SECONDS, withLock } from '../util/lock.js';
import { runChecked } from '../util/run.js';
import { userNamespaceArgs } from '../sandbox/userns.js';
import { hostArch } from '../util/host-arch.js';
import { sha256File } from '../util/sha256-file.js';

export interface BaseImageOptions {
  /** `<cache_dir>/base`: anything here may be deleted; it is rebuilt on next use. */
  cacheDir: string;
  suite: string;
  mirror: string;
  /** Progress and mmdebstrap's output. */
  log: Writable;
}

export interface BaseImage {
  /** The unpacked root, owned by the daemon user's subordinate ids; used read-only as overlay lower layer. */
  root: string;
  /** sha256 of the mmdebstrap tarball it was unpacked from (recorded in provenance). */
  digest: string;
}

/**
 * The pristine build root, made once with mmdebstrap (unprivileged, --mode=unshare) and
 * unpacked inside a user namespace so owners and modes survive. Two daemons or slots asking
 * at once wait on one lock and share the result. The `ready` file is written last, so a
 * half-made base (a daemon killed mid-way) is never used and is simply made again.
 */
/** Whether the base image of `suite` is made, so a build would not wait for it. */
export function baseImageReady(cacheDir: string, suite: string): boolean {
  return fs.existsSync(path.join(cacheDir, `${suite}-${hostArch()}`, 'ready'));
}

export async function ensureBaseImage(opts: BaseImageOptions): Promise<BaseImage> {
  const dir = path.join(opts.cacheDir, `${opts.suite}-${hostArch()}`);
  const ready = path.join(dir, 'ready');
  const read = (): BaseImage => ({ root: path.join(dir, 'root'), digest: fs.readFileSync(ready, 'utf8').trim() });
  if (fs.existsSync(ready)) return read();
  fs.mkdirSync(dir, { recursive: true });
  const onWait = () =>
    opts.log.write(
      `base image: waiting while it is made (by the daemon, ahead of the first build, or by another build; a maker that died leaves a lock taken over after ${STALE_SECONDS} s)\n`,
    );
  return withLock(
    dir,
    async () => {
      if (fs.existsSync(ready)) return read();
      const started = Date.now();
      opts.log.write(
        `base image: making ${opts.suite} (${hostArch()}) with mmdebstrap from ${opts.mirror}; first use only, about 30-60 s\n`,
      );
      const tar = path.join(dir, 'base.tar');
      const partial = path.join(dir, 'base.tar.partial');
      fs.rmSync(partial, { force: true });
      await runChecked(
        ['mmdebstrap', '--mode=unshare', '--variant=buildd', '--format=tar', opts.suite, partial, opts.mirror],
        { timeoutMs: 20 * 60_000, log: opts.log, capture: false, what: 'mmdebstrap' },
      );
      fs.renameSync(partial, tar);
      opts.log.write(`base image: unpacking (${Math.round(fs.statSync(tar).size / 1e6)} MB)\n`);
      const root = path.join(dir, 'root');
      await removeTree(root);
      fs.mkdirSync(root);
      await runChecked([...userNamespaceArgs(), 'tar', '-C', root, '-xf', tar, '--exclude=./dev/*'], {
        timeoutMs: 10 * 60_000,
        log: opts.log,
        what: 'unpacking the base image',
      });
      const digest = await sha256File(tar);
      fs.writeFileSync(ready, digest + '\n');
      opts.log.write(
        `base image: ready in ${((Date.now() - started) / 1000).toFixed(1)} s (sha256 ${digest.slice(0, 16)}…)\n`,
      );
      return read();
    },
    { onWait },
  );
}

/** Trees holding subordinate-uid files (an unpacked base, an overlay upper dir) can only be removed from inside a user namespace. */
export async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  await runChecked([...userNamespaceArgs(), 'rm', '-rf', '--one-file-system', dir], {
    timeoutMs: 10 * 60_000,
    what: `removing ${dir}`,
  });
}
