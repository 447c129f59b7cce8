/**
 * By-hash indices (apt's Acquire-By-Hash), added to what reprepro exports. Bookworm's
 * reprepro (5.3) has no ByHash option, so this runs from its signing hook (see
 * ./release-hook.ts), the one moment when a suite's new indices are written (as `*.new`
 * when changed) and its new Release is not yet visible.
 *
 * Why: a client reads InRelease, then the indices it names. Fetched by name, an index can
 * already be the next publish's, and apt reports "Hash Sum mismatch". Fetched by hash from
 * `by-hash/SHA256/<sha256>`, every index an InRelease names is there for as long as a client
 * may still hold that InRelease: copies are made before the Release that names them is
 * visible, and removed only BY_HASH_KEEP_SECONDS after the last Release naming them stopped
 * being the current one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { PocketbuildError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/**
 * How long an index stays fetchable by hash after the last Release naming it was replaced:
 * far longer than one `apt-get update` takes, even over a slow link or through a proxy.
 */
export const BY_HASH_KEEP_SECONDS = 3600;

export interface ReleaseEntry {
  sha256: string;
  size: number;
  /** Relative to the suite's directory, e.g. `main/binary-amd64/Packages.gz`. */
  path: string;
}

/** The SHA256 section of a Release file. */
export function sha256Entries(release: string): ReleaseEntry[] {
  const out: ReleaseEntry[] = [];
  let inSection = false;
  for (const line of release.split('\n')) {
    if (!line.startsWith(' ')) {
      inSection = /^SHA256:\s*$/.test(line);
      continue;
    }
    if (!inSection) continue;
    const m = /^ ([0-9a-f]{64}) +(\d+) +(\S+)$/.exec(line);
    // reprepro writes only relative paths of the suite's own files; anything else is not ours to copy.
    if (!m || m[3]!.split('/').some((s) => s === '..' || s === '.' || s === '')) {
      throw new PocketbuildError(
        'PublishFailed',
        `unexpected line in the SHA256 section of a Release: ${JSON.stringify(line)}`,
      );
    }
    out.push({ sha256: m[1]!, size: Number(m[2]), path: m[3]! });
  }
  return out;
}

/** The Release text with `Acquire-By-Hash: yes` in its header (before the first checksum section). */
export function withAcquireByHash(release: string): string {
  const lines = release.split('\n');
  const firstSection = lines.findIndex((l) => /^(MD5Sum|SHA1|SHA256|SHA512):\s*$/.test(l));
  const header = firstSection < 0 ? lines : lines.slice(0, firstSection);
  if (header.some((l) => /^Acquire-By-Hash:/i.test(l))) return release;
  const at = firstSection < 0 ? lines.length - (lines[lines.length - 1] === '' ? 1 : 0) : firstSection;
  return [...lines.slice(0, at), 'Acquire-By-Hash: yes', ...lines.slice(at)].join('\n');
}

function byHashFile(suiteDir: string, e: ReleaseEntry): string {
  return path.join(suiteDir, path.dirname(e.path), 'by-hash', 'SHA256', e.sha256);
}

function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * For a Release that reprepro is about to make current (`releaseFile`, its `Release.new`):
 * put `Acquire-By-Hash: yes` in it, copy every index it names to by-hash/, refresh the copies
 * the current Release names (their clients' clock starts now), and remove copies no Release
 * has named for BY_HASH_KEEP_SECONDS. `now` is in milliseconds.
 */
export function addByHash(releaseFile: string, now: number = Date.now()): void {
  const suiteDir = path.dirname(releaseFile);
  const text = fs.readFileSync(releaseFile, 'utf8');
  const marked = withAcquireByHash(text);
  if (marked !== text) fs.writeFileSync(releaseFile, marked);

  const stamp = new Date(now);
  const entries = sha256Entries(marked);
  for (const e of entries) {
    const target = byHashFile(suiteDir, e);
    if (fs.existsSync(target)) {
      fs.utimesSync(target, stamp, stamp);
      continue;
    }
    // A changed index is still at its .new name; an unchanged one is in place. reprepro lists
    // some uncompressed indices it does not write: there is nothing to fetch, so nothing to copy.
    const source = [`${e.path}.new`, e.path]
      .map((p) => path.join(suiteDir, p))
      .find((f) => fs.existsSync(f) && fs.statSync(f).size === e.size && sha256Of(f) === e.sha256);
    if (!source) {
      if (fs.existsSync(path.join(suiteDir, `${e.path}.new`)) || fs.existsSync(path.join(suiteDir, e.path))) {
        throw new PocketbuildError(
          'PublishFailed',
          `by-hash: ${path.join(suiteDir, e.path)} is not the file its Release names (sha256 ${e.sha256}); export the suite again`,
        );
      }
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    writeFileAtomic(target, fs.readFileSync(source));
    fs.utimesSync(target, stamp, stamp);
  }

  const current = path.join(suiteDir, 'Release');
  const stillNamed = fs.existsSync(current) ? sha256Entries(fs.readFileSync(current, 'utf8')) : [];
  for (const e of stillNamed) {
    const f = byHashFile(suiteDir, e);
    if (fs.existsSync(f)) fs.utimesSync(f, stamp, stamp);
  }

  const keep = new Set([...entries, ...stillNamed].map((e) => e.sha256));
  const dirs = new Set([...entries, ...stillNamed].map((e) => path.dirname(byHashFile(suiteDir, e))));
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) {
      if (keep.has(name)) continue;
      const f = path.join(dir, name);
      // Dot files are copies a killed run left half-written; the same age rule covers them.
      if (now - fs.lstatSync(f).mtimeMs > BY_HASH_KEEP_SECONDS * 1000) fs.rmSync(f, { force: true });
    }
  }
}
