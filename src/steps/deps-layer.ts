import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import { runSandbox } from '../sandbox/index.js';
import { userNamespaceArgs } from '../sandbox/userns.js';
import { PocketbuildError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { STALE_SECONDS, withLock } from '../util/lock.js';
import { processAlive } from '../util/process-alive.js';
import { runChecked } from '../util/run.js';
import { removeTree, type BaseImage } from './base-image.js';
import type { ResolvedDeb } from './build-deps.js';
import { sandboxFailure, sandboxLimits } from './build-in-sandbox.js';
import { LAYER_SCRIPT } from './sandbox-script.js';

/*
 * A dependency layer is what installing a set of build-dependencies changed in the base: the
 * upper directory of an overlay, kept. Builds of the same set mount it read-only between the
 * base and their own scratch layer instead of unpacking the .debs again.
 *
 * <layers>/<key>/root/           the layer (owned by the namespace's ids; whiteouts and
 *                                 user.overlay.* marks as overlayfs wrote them)
 * <layers>/<key>/manifest.json   written last: a layer without it is not made (yet)
 * <layers>/<key>/users/          one file per build using it (host, pid, build id)
 * <layers>/<key>.lock            held while the layer is made, checked, leased or removed
 */

/** Bumped when what a layer holds changes meaning, so older layers are never mounted. */
const LAYER_FORMAT = 1;

/**
 * Names the layer: the base it was installed over and the exact .debs installed (sha256,
 * sorted). Nothing else goes in: the same files over the same base give the same tree.
 */
export function depsLayerKey(baseDigest: string, deps: Pick<ResolvedDeb, 'sha256'>[], crossArch?: string): string {
  const debs = deps.map((d) => d.sha256).sort();
  // A cross layer's dpkg also knows the foreign architecture: not the same tree.
  const cross = crossArch ? `cross ${crossArch}\n` : '';
  return crypto
    .createHash('sha256')
    .update(`pocketbuild dependency layer ${LAYER_FORMAT}\n${cross}${baseDigest}\n${debs.join('\n')}\n`)
    .digest('hex');
}

interface Manifest {
  format: number;
  key: string;
  base: string;
  /** What was installed, as the provenance records it. */
  deps: ResolvedDeb[];
  /** The Packages index of those .debs: the build's apt reads it to check the layer has them all. */
  packages: string;
  /** sha256 of the layer's sorted listing (path, type, size, mode, owner, link target). */
  listing: string;
  files: number;
  bytes: number;
  made: string;
}

/** A layer a build is using: it is not pruned until released. */
export interface DepsLayer {
  key: string;
  root: string;
  deps: ResolvedDeb[];
  packages: string;
  release(): void;
}

export interface DepsLayerPlace {
  /** `<cache_dir>/layers`. */
  dir: string;
  log: Writable;
  /** Who is leasing (a build id), for the lease file's name. */
  user: string;
}

const keyDir = (p: DepsLayerPlace, key: string) => path.join(p.dir, key);

/**
 * The layer for `key` when it is made and undamaged, leased to the caller; null when it is not
 * made (or was damaged and has been removed), and the caller installs the .debs itself.
 */
export async function openDepsLayer(p: DepsLayerPlace, key: string): Promise<DepsLayer | null> {
  try {
    return await withLayerLock(
      p,
      key,
      async () => {
        const m = await checkedManifest(p, key);
        if (!m) return null;
        p.log.write(
          `deps layer: using ${key.slice(0, 16)}… (${m.deps.length} packages, ${m.files} files, ${mb(m.bytes)} MB, made ${m.made})\n`,
        );
        return lease(p, key, m);
      },
      // A check by another build takes a moment; making one takes longer, and is not waited for here.
      { waitMs: 2_000, pollMs: 200 },
    );
  } catch (e) {
    // Being made by another build: the caller's lock on the package cache is not held while
    // that goes on; it fetches the .debs and then waits for the layer in makeDepsLayer.
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
    p.log.write(`deps layer: ${key.slice(0, 16)}… is being made by another build; fetching the .debs meanwhile\n`);
    return null;
  }
}

export interface MakeDepsLayerOptions extends DepsLayerPlace {
  key: string;
  base: BaseImage;
  /** The downloaded .debs and their Packages index. */
  debsDir: string;
  deps: ResolvedDeb[];
  limits: Config['limits'];
  cacheDir: string;
  signal?: AbortSignal;
  /** Layers are pruned, least recently used first, down to this many bytes. */
  maxBytes: number;
  /** The layer of a cross build to this architecture: dpkg is told of it before installing. */
  crossArch?: string;
}

/**
 * Make the layer by installing the .debs over the base in the sandbox (no network, the disk
 * limit on its scratch, as the namespace's fake root), then lease it. One maker at a time per
 * key: a second build waiting for the lock finds it made. What a maker killed half-way leaves
 * has no manifest and is removed by the next maker.
 */
export async function makeDepsLayer(o: MakeDepsLayerOptions): Promise<DepsLayer> {
  const layer = await withLayerLock(o, o.key, async () => {
    const made = await checkedManifest(o, o.key);
    if (made) {
      o.log.write(`deps layer: ${o.key.slice(0, 16)}… was made by another build meanwhile\n`);
      return lease(o, o.key, made);
    }
    const dir = keyDir(o, o.key);
    await removeTree(dir);
    const root = path.join(dir, 'root');
    fs.mkdirSync(root, { recursive: true });
    const started = Date.now();
    o.log.write(`deps layer: making ${o.key.slice(0, 16)}… from ${o.deps.length} packages\n`);
    const scratch = path.join(o.dir, `.scratch-${o.key.slice(0, 16)}-${process.pid}`);
    const r = await runSandbox('userns', {
      base: o.base.root,
      scratch,
      keepUpper: root,
      binds: [{ host: o.debsDir, inside: '/debs' }],
      argv: [
        'sh',
        '-c',
        LAYER_SCRIPT,
        'pocketbuild-layer',
        // Named with their architecture: a cross set may hold a library for both.
        ...o.deps.map((d) => (d.arch === 'all' ? `${d.name}=${d.version}` : `${d.name}:${d.arch}=${d.version}`)),
      ],
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: '/root',
        LC_ALL: 'C.UTF-8',
        ...(o.crossArch ? { CROSS_ARCH: o.crossArch } : {}),
      },
      limits: sandboxLimits(o.limits),
      log: o.log,
      ...(o.signal ? { signal: o.signal } : {}),
      cacheDir: o.cacheDir,
      baseDigest: o.base.digest,
    });
    if (r.code !== 0) {
      await removeTree(dir);
      if (r.cancelled && !r.timedOut) throw new LayerStopped(r.how);
      throw sandboxFailure(r, o.limits, 'installing the build-dependencies');
    }
    const listing = await layerListing(root);
    const m: Manifest = {
      format: LAYER_FORMAT,
      key: o.key,
      base: o.base.digest,
      deps: o.deps,
      packages: fs.readFileSync(path.join(o.debsDir, 'Packages'), 'utf8'),
      listing: listing.digest,
      files: listing.files,
      bytes: listing.bytes,
      made: new Date().toISOString(),
    };
    writeFileAtomic(path.join(dir, 'manifest.json'), JSON.stringify(m));
    o.log.write(
      `deps layer: made in ${((Date.now() - started) / 1000).toFixed(1)} s (${m.files} files, ${mb(m.bytes)} MB)\n`,
    );
    return lease(o, o.key, m);
  });
  await pruneDepsLayers(o, o.maxBytes);
  return layer;
}

/**
 * A layer used this recently is kept even past the size bound: builds queued together (a
 * batch, two slots) would otherwise remove each other's layers before using them.
 */
const KEEP_RECENT_MS = 10 * 60_000;

/**
 * Remove the least recently used layers until the rest fit in `maxBytes`. A layer some build
 * holds a lease on stays, whatever its age: overlayfs must not see a lower layer change.
 */
export async function pruneDepsLayers(p: DepsLayerPlace, maxBytes: number): Promise<string[]> {
  const layers = listLayers(p.dir);
  let total = layers.reduce((n, l) => n + l.bytes, 0);
  const removed: string[] = [];
  for (const l of layers.sort((a, b) => a.used - b.used)) {
    if (total <= maxBytes) break;
    if (Date.now() - l.used < KEEP_RECENT_MS) break;
    const gone = await withLayerLock(p, l.key, async () => {
      if (liveLeases(p, l.key).length) return false;
      await discard(p, l.key);
      return true;
    });
    if (!gone) continue;
    total -= l.bytes;
    removed.push(l.key);
    p.log.write(`deps layer: removed ${l.key.slice(0, 16)}… (${mb(l.bytes)} MB, least recently used)\n`);
  }
  return removed;
}

/**
 * What a daemon of this host that is no longer running (a crash) left: its leases, and the
 * scratch mount points and half-removed trees named with its pid.
 */
export async function dropDeadLeases(dir: string): Promise<void> {
  for (const l of listLayers(dir)) {
    for (const f of leaseFiles(dir, l.key))
      if (f.host === os.hostname() && !processAlive(f.pid)) fs.rmSync(f.file, { force: true });
  }
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = /^\.(?:scratch|trash)-[0-9a-f]{16}-(\d+)/.exec(n)?.[1];
    if (pid && !processAlive(Number(pid))) await removeTree(path.join(dir, n));
  }
}

function withLayerLock<T>(
  p: DepsLayerPlace,
  key: string,
  fn: () => Promise<T>,
  o: { waitMs?: number; pollMs?: number } = {},
): Promise<T> {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new PocketbuildError('InternalError', `not a layer key: ${key}`);
  fs.mkdirSync(p.dir, { recursive: true });
  return withLock(keyDir(p, key), fn, {
    ...o,
    onWait: () =>
      p.log.write(
        `deps layer: waiting for another build making or checking ${key.slice(0, 16)}… (a maker that died leaves a lock taken over after ${STALE_SECONDS} s)\n`,
      ),
  });
}

/** The manifest of a made layer whose tree still lists as it did when made; a damaged one is removed. */
async function checkedManifest(p: DepsLayerPlace, key: string): Promise<Manifest | null> {
  const dir = keyDir(p, key);
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return damaged(p, key, 'its manifest cannot be read');
  }
  if (m.format !== LAYER_FORMAT || m.key !== key || !Array.isArray(m.deps))
    return damaged(p, key, 'its manifest is not one this version wrote');
  const now = await layerListing(path.join(dir, 'root')).catch(() => null);
  if (!now || now.digest !== m.listing)
    return damaged(
      p,
      key,
      now
        ? `its files differ from when it was made (${now.files} files now, ${m.files} then)`
        : 'its tree cannot be read',
    );
  return m;
}

async function damaged(p: DepsLayerPlace, key: string, why: string): Promise<null> {
  const users = liveLeases(p, key);
  if (users.length) {
    // Builds have it mounted: it cannot be replaced under them. This build installs its own.
    p.log.write(
      `deps layer: ${key.slice(0, 16)}… is damaged (${why}) and in use by ${users.join(', ')}; installing without it\n`,
    );
    throw new LayerInUse();
  }
  p.log.write(`deps layer: ${key.slice(0, 16)}… is damaged (${why}); removing it, to be made again\n`);
  await discard(p, key);
  return null;
}

/** Making the layer was cancelled from outside (the build's signal): the caller knows why. */
export class LayerStopped extends Error {
  constructor(readonly how: string) {
    super(`making the dependency layer was stopped (${how})`);
  }
}

/** A damaged layer that builds still use: the caller goes on without a layer. */
export class LayerInUse extends Error {}

/** Moved aside first, so no half-removed tree ever sits under the layer's name. */
async function discard(p: DepsLayerPlace, key: string): Promise<void> {
  const dir = keyDir(p, key);
  if (!fs.existsSync(dir)) return;
  const trash = path.join(p.dir, `.trash-${key.slice(0, 16)}-${process.pid}-${Date.now()}`);
  fs.renameSync(dir, trash);
  await removeTree(trash);
}

function lease(p: DepsLayerPlace, key: string, m: Manifest): DepsLayer {
  const dir = keyDir(p, key);
  const users = path.join(dir, 'users');
  fs.mkdirSync(users, { recursive: true });
  const file = path.join(users, `${os.hostname()}_${process.pid}_${p.user.replace(/[^\w.-]/g, '_')}`);
  fs.writeFileSync(file, '');
  const now = new Date();
  fs.utimesSync(path.join(dir, 'manifest.json'), now, now);
  return {
    key,
    root: path.join(dir, 'root'),
    deps: m.deps,
    packages: m.packages,
    release: () => fs.rmSync(file, { force: true }),
  };
}

function leaseFiles(dir: string, key: string): { file: string; host: string; pid: number }[] {
  const users = path.join(dir, key, 'users');
  let names: string[];
  try {
    names = fs.readdirSync(users);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const m = /^(.+)_(\d+)_(.+)$/.exec(n);
    return m ? [{ file: path.join(users, n), host: m[1]!, pid: Number(m[2]) }] : [];
  });
}

/** Leases whose holder may still run: this host's live processes, and every other host's. */
function liveLeases(p: DepsLayerPlace, key: string): string[] {
  return leaseFiles(p.dir, key)
    .filter((f) => f.host !== os.hostname() || processAlive(f.pid))
    .map((f) => path.basename(f.file));
}

/** Made layers with their size and last use (the manifest's mtime, touched at each lease). */
function listLayers(dir: string): { key: string; bytes: number; used: number }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((key) => {
    if (!/^[0-9a-f]{64}$/.test(key)) return [];
    const manifest = path.join(dir, key, 'manifest.json');
    try {
      const m = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Partial<Manifest>;
      return [{ key, bytes: typeof m.bytes === 'number' ? m.bytes : 0, used: fs.statSync(manifest).mtimeMs }];
    } catch {
      return [];
    }
  });
}

/**
 * Every entry's path, type, size, mode, owner and link target, sorted and hashed: a file
 * removed, added, cut short or re-owned changes it. Read inside a user namespace, since the
 * layer holds directories of subordinate ids the daemon user cannot enter. A change of
 * content at the same size is not seen; the layer is only ever written by its maker.
 */
async function layerListing(root: string): Promise<{ digest: string; files: number; bytes: number }> {
  // Streamed, not captured: run() keeps only the tail of a large output.
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await runChecked(
    [...userNamespaceArgs(), 'find', root, '-mindepth', '1', '-printf', '%P\\0%y\\0%s\\0%m\\0%U\\0%G\\0%l\\0'],
    { timeoutMs: 5 * 60_000, what: 'listing a dependency layer', log: sink, capture: false },
  );
  // Every field ends in a NUL (the only byte no path holds), seven to an entry.
  const fields = Buffer.concat(chunks).toString('utf8').split('\0');
  const entries: string[] = [];
  let bytes = 0;
  for (let i = 0; i + 7 <= fields.length; i += 7) {
    const entry = fields.slice(i, i + 7);
    entries.push(JSON.stringify(entry));
    if (entry[1] === 'f') bytes += Number(entry[2]);
  }
  entries.sort();
  return {
    digest: crypto.createHash('sha256').update(entries.join('\n')).digest('hex'),
    files: entries.length,
    bytes,
  };
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
