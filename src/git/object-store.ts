import fs from 'node:fs';
import path from 'node:path';
import { PocketbuildError } from '../util/errors.js';
import { parseLooseObject } from './loose-object.js';
import { Pack, type DeltaChain, type ExternalBase, type PackedObject } from './pack-file.js';
import { PackIndex } from './pack-index.js';
import { DEFAULT_READ_LIMITS, formatBytes, ObjectFault, type RawObject, type ReadLimits } from './raw-object.js';
import { assertRepoExists, corruptObject, repoLabel, shortOid } from './repo-errors.js';

export type { ObjectType, RawObject, ReadLimits } from './raw-object.js';

const OID = /^[0-9a-f]{40}$/;
/** git knows the empty tree without storing it, so commits may name it in any repository. */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** The packs of a repository, and the index files among them that cannot be read. */
interface PackSet {
  packs: Pack[];
  unreadable: { name: string; why: string }[];
}

/**
 * Reads the objects of one repository for the length of one operation: packed objects
 * through {@link Pack}, loose ones directly, both with native zlib. (isomorphic-git's own
 * reader took four to five times as long as `git archive` to export a tree, and does not
 * guard against hostile packs.) Directory listings and packs are loaded once; if an object
 * then seems missing they are reloaded and the read retried, because a concurrent push or gc
 * may have moved it.
 *
 * Every failure is a PocketbuildError naming the repository and object: `CorruptObject` for
 * damage, `ObjectTooLarge` and `DeltaChainTooDeep` past the {@link ReadLimits}.
 */
export class RepoReader {
  readonly gitdir: string;
  readonly label: string;
  readonly limits: ReadLimits;
  private listings = new Map<string, Promise<Set<string> | null>>();
  private packs: Promise<PackSet> | undefined;
  private readonly external: ExternalBase = (oid, chain) => this.find(oid, chain);

  constructor(gitdir: string, limits: Partial<ReadLimits> = {}) {
    this.gitdir = path.resolve(gitdir);
    this.label = repoLabel(gitdir);
    this.limits = { ...DEFAULT_READ_LIMITS, ...limits };
  }

  /** An object's type and raw content, or null when the repository does not have it. */
  async read(oid: string): Promise<RawObject | null> {
    return (await this.find(oid, null))?.object ?? null;
  }

  /** Every object id starting with `prefix` (at least two lower-case hex digits). */
  async expand(prefix: string): Promise<string[]> {
    const found = new Set<string>();
    const dir = prefix.slice(0, 2);
    for (const name of (await this.list(`objects/${dir}`)) ?? []) {
      const oid = dir + name;
      if (OID.test(oid) && oid.startsWith(prefix)) found.add(oid);
    }
    const { packs, unreadable } = await this.loadPacks();
    for (const pack of packs) for (const oid of pack.index.expand(prefix)) found.add(oid);
    if (found.size === 0) {
      await assertRepoExists(this.gitdir);
      this.assertIndexesReadable(unreadable, prefix);
    }
    return [...found];
  }

  /** The object `oid`, read as part of delta chain `chain` (null: read for its own sake). */
  private async find(oid: string, chain: DeltaChain | null): Promise<PackedObject | null> {
    if (oid === EMPTY_TREE) return { object: { type: 'tree', content: Buffer.alloc(0) }, deltas: 0 };
    const first = await this.findOnce(oid, chain);
    if (first !== null) return first;
    this.listings.clear();
    this.packs = undefined;
    const second = await this.findOnce(oid, chain);
    if (second === null) {
      await assertRepoExists(this.gitdir);
      this.assertIndexesReadable((await this.loadPacks()).unreadable, oid);
    }
    return second;
  }

  private async findOnce(oid: string, chain: DeltaChain | null): Promise<PackedObject | null> {
    if (!OID.test(oid)) return null;
    const raw = Buffer.from(oid, 'hex');
    for (const pack of (await this.loadPacks()).packs) {
      try {
        const offset = pack.index.offsetOf(raw);
        if (offset === null) continue;
        return await pack.read(offset, this.external, chain);
      } catch (e) {
        // Removed by a concurrent repack since it was listed: the caller looks again.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw this.packError(e, oid, pack.name);
      }
    }
    const loose = await this.readLoose(oid);
    return loose && { object: loose, deltas: 0 };
  }

  /** An object missing from the readable packs may be in one that cannot be read: say so rather than "not found". */
  private assertIndexesReadable(unreadable: PackSet['unreadable'], oid: string): void {
    const bad = unreadable[0];
    if (bad)
      throw corruptObject(
        this.gitdir,
        'object',
        oid,
        `cannot be looked up because objects/pack/${bad.name} cannot be read (${bad.why})`,
      );
  }

  private packError(e: unknown, oid: string, pack: string): Error {
    // Already about a delta base elsewhere, and naming it.
    if (e instanceof PocketbuildError) return e;
    if (e instanceof ObjectFault && e.kind === 'too-large') return this.tooLarge(oid, `in ${pack}, ${e.message}`);
    if (e instanceof ObjectFault && e.kind === 'too-deep') {
      const depth = this.limits.maxDeltaDepth;
      return new PocketbuildError(
        'DeltaChainTooDeep',
        `object ${shortOid(oid)} in ${this.label} is stored in ${pack} as a chain of more than ${depth} deltas; repack the repository with git repack -a -d -f --depth=${depth}.`,
        { gitdir: this.gitdir, oid, pack, limit: depth },
      );
    }
    if ((e as NodeJS.ErrnoException).code === 'ERR_FS_FILE_TOO_LARGE') {
      return new PocketbuildError(
        'PackTooLarge',
        `${pack} in ${this.label} is over the 2 GiB a pack may have for pocketbuild; split it with git repack -a -d --max-pack-size=1g.`,
        {
          gitdir: this.gitdir,
          oid,
          pack,
        },
      );
    }
    // An I/O error (EACCES, EIO...) is about the machine, not the repository.
    if (!(e instanceof ObjectFault) && typeof (e as NodeJS.ErrnoException).syscall === 'string') return e as Error;
    // Anything else, ObjectFault or not, is damage the checks put into words or missed.
    return corruptObject(this.gitdir, 'object', oid, `cannot be read from ${pack} (${(e as Error).message})`);
  }

  private tooLarge(oid: string, why: string): PocketbuildError {
    const limit = this.limits.maxObjectBytes;
    return new PocketbuildError(
      'ObjectTooLarge',
      `object ${shortOid(oid)} in ${this.label} is over the ${formatBytes(limit)} size limit of pocketbuild (${why}); keep files that large out of the repository, or run git fsck if it should be smaller.`,
      { gitdir: this.gitdir, oid, limit },
    );
  }

  private loadPacks(): Promise<PackSet> {
    return (this.packs ??= (async () => {
      const dir = path.join(this.gitdir, 'objects', 'pack');
      const names = (await fs.promises.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.idx'));
      const opened = await Promise.all(
        names.map(async (name) => {
          try {
            const index = await PackIndex.open(path.join(dir, name));
            return index ? new Pack(index, this.limits) : { name, why: 'it is not a version-2 pack index' };
          } catch (e) {
            if (e instanceof ObjectFault) return { name, why: e.message };
            // Gone since the listing (a concurrent gc), or unreadable as any file can be: skipped.
            return null;
          }
        }),
      );
      return {
        packs: opened.filter((p): p is Pack => p instanceof Pack),
        unreadable: opened.filter((p): p is { name: string; why: string } => p !== null && !(p instanceof Pack)),
      };
    })());
  }

  private list(rel: string): Promise<Set<string> | null> {
    let listing = this.listings.get(rel);
    if (!listing) {
      listing = fs.promises.readdir(path.join(this.gitdir, rel)).then(
        (names) => new Set(names),
        () => null,
      );
      this.listings.set(rel, listing);
    }
    return listing;
  }

  /**
   * A loose object, or null when there is none. Read here rather than by isomorphic-git for
   * the same reason as packs: its pako inflate and per-call overhead made an export of a
   * repository of small pushes (all loose objects) several times slower than git.
   */
  private async readLoose(oid: string): Promise<RawObject | null> {
    const dir = oid.slice(0, 2);
    // A listing per directory, taken once, is far cheaper than a failed open per packed object.
    if (!(await this.list(`objects/${dir}`))?.has(oid.slice(2))) return null;
    let data: Buffer;
    try {
      // Synchronous: fs.promises.readFile takes four thread-pool round trips for a few bytes.
      data = fs.readFileSync(path.join(this.gitdir, 'objects', dir, oid.slice(2)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Packed away by a concurrent gc since the listing: the caller retries with fresh listings.
      if (code === 'ENOENT') return null;
      if (code === 'ERR_FS_FILE_TOO_LARGE') throw this.tooLarge(oid, 'its loose file is over 2 GiB');
      throw e;
    }
    try {
      return parseLooseObject(data, this.limits.maxObjectBytes);
    } catch (e) {
      if (!(e instanceof ObjectFault)) throw e;
      throw e.kind === 'too-large'
        ? this.tooLarge(oid, e.message)
        : corruptObject(this.gitdir, 'object', oid, e.message);
    }
  }
}
