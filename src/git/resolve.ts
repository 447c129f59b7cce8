import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import git, { type PromiseFsClient } from 'isomorphic-git';
import { NotFoundError, PocketbuildError } from '../util/errors.js';

/** The kind of a tree entry, from its git mode. */
export type EntryKind = 'tree' | 'file' | 'exec' | 'symlink' | 'submodule';

/** One entry of a git tree object, its name kept as raw bytes (git names need not be UTF-8). */
export interface TreeEntry {
  name: Buffer;
  kind: EntryKind;
  oid: string;
}

/** The kind of object behind an id. */
export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

const HEX_PREFIX = /^[0-9a-fA-F]{4,40}$/;
const LOOSE_OBJECT = /^objects\/([0-9a-f]{2})\/([0-9a-f]{38})$/;

/** The repository's name as users know it (`hello.git`), for messages. */
export function repoLabel(gitdir: string): string {
  return path.basename(path.resolve(gitdir));
}

/** The abbreviation used in messages, like `git log --oneline`. */
export function shortOid(oid: string): string {
  return oid.slice(0, 7);
}

function igCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/**
 * Called after a lookup failed: when the repository itself is missing, saying so is far more
 * useful than "commit not found", and it costs nothing on the successful path.
 */
async function assertRepoExists(gitdir: string): Promise<void> {
  try {
    await fs.promises.access(path.join(gitdir, 'objects'));
  } catch {
    throw new NotFoundError(`repository ${repoLabel(gitdir)} does not exist at ${gitdir}; check the name or create it first.`, {
      gitdir,
    });
  }
}

function corrupt(gitdir: string, what: string, oid: string, why = 'is malformed'): PocketbuildError {
  return new PocketbuildError('CorruptObject', `${what} ${shortOid(oid)} in ${repoLabel(gitdir)} ${why}; run git fsck on the repository.`, {
    gitdir,
    oid,
  });
}

/** An object as stored: its type and uncompressed content. */
export interface RawObject {
  type: ObjectType;
  content: Buffer;
}

const PACK_TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;
/** Delta bases kept per pack: plenty for git's default chain depth of 50, bounded in memory. */
const BASE_CACHE_ENTRIES = 256;
const BASE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * A pack file (with a version-2 index) read directly. isomorphic-git inflates every packed
 * object with pako in JavaScript and spends far more on per-call overhead than on the data;
 * exporting ten thousand files took about four times as long as `git archive | tar -x`.
 * Native zlib brings that within the budget. Version-1 indexes are left to isomorphic-git.
 * Like isomorphic-git, a pack is read into memory whole, so packs over 2 GiB cannot be read.
 */
class Pack {
  private data: Promise<Buffer> | undefined;
  private readonly bases = new Map<number, RawObject>();
  private basesBytes = 0;

  private constructor(
    readonly file: string,
    private readonly idx: Buffer,
    private readonly count: number,
  ) {}

  /** The pack for index file `idxFile`, or null when it is not one this class reads. */
  static async open(idxFile: string): Promise<Pack | null> {
    const idx = await fs.promises.readFile(idxFile);
    if (idx.length < 8 + 1024 + 40 || idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return null;
    const count = idx.readUInt32BE(8 + 255 * 4);
    if (idx.length < 8 + 1024 + count * 28 + 40) return null;
    return new Pack(idxFile.replace(/\.idx$/, '.pack'), idx, count);
  }

  /** Where object `oid` (20 raw bytes) starts in the pack, or null when it is not in it. */
  offsetOf(oid: Buffer): number | null {
    const first = oid[0] ?? 0;
    let lo = first === 0 ? 0 : this.idx.readUInt32BE(8 + (first - 1) * 4);
    let hi = this.idx.readUInt32BE(8 + first * 4);
    const names = 8 + 1024;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const cmp = this.idx.compare(oid, 0, 20, names + mid * 20, names + mid * 20 + 20);
      if (cmp === 0) {
        const offsets = names + this.count * 24;
        const small = this.idx.readUInt32BE(offsets + mid * 4);
        if (!(small & 0x80000000)) return small;
        // Packs over 2 GiB keep large offsets in a separate 64-bit table.
        const large = offsets + this.count * 4 + (small & 0x7fffffff) * 8;
        return Number(this.idx.readBigUInt64BE(large));
      }
      if (cmp > 0) hi = mid;
      else lo = mid + 1;
    }
    return null;
  }

  /**
   * The object at `offset`. `external` reads a ref-delta base that lives outside this pack.
   * Throws a plain Error on damage; the caller turns that into a user-facing one.
   */
  async readAt(offset: number, external: (oid: string) => Promise<RawObject | null>, depth = 0): Promise<RawObject> {
    if (depth > 10_000) throw new Error('delta chain too long');
    const data = await (this.data ??= fs.promises.readFile(this.file));
    let p = offset;
    const byte = (): number => {
      const b = data[p++];
      if (b === undefined) throw new Error('pack truncated');
      return b;
    };
    let c = byte();
    const type = (c >> 4) & 7;
    let size = c & 15;
    let shift = 4;
    while (c & 0x80) {
      c = byte();
      size += (c & 0x7f) * 2 ** shift;
      shift += 7;
    }
    let base: RawObject;
    if (type === OFS_DELTA) {
      c = byte();
      let back = c & 0x7f;
      while (c & 0x80) {
        c = byte();
        back = (back + 1) * 128 + (c & 0x7f);
      }
      base = await this.base(offset - back, external, depth);
    } else if (type === REF_DELTA) {
      const baseOid = data.subarray(p, p + 20);
      p += 20;
      const inPack = this.offsetOf(baseOid);
      const found = inPack !== null ? await this.base(inPack, external, depth) : await external(baseOid.toString('hex'));
      if (!found) throw new Error(`delta base ${baseOid.toString('hex')} is missing`);
      base = found;
    } else {
      const known = PACK_TYPES[type];
      if (!known) throw new Error(`unknown object type ${type}`);
      return { type: known, content: inflateExact(data, p, size) };
    }
    return { type: base.type, content: applyDelta(base.content, inflateExact(data, p, size)) };
  }

  private async base(offset: number, external: (oid: string) => Promise<RawObject | null>, depth: number): Promise<RawObject> {
    const hit = this.bases.get(offset);
    if (hit) return hit;
    const obj = await this.readAt(offset, external, depth + 1);
    if (obj.content.length > BASE_CACHE_BYTES / 4) return obj;
    for (const [key, old] of this.bases) {
      if (this.bases.size < BASE_CACHE_ENTRIES && this.basesBytes + obj.content.length <= BASE_CACHE_BYTES) break;
      this.bases.delete(key);
      this.basesBytes -= old.content.length;
    }
    this.bases.set(offset, obj);
    this.basesBytes += obj.content.length;
    return obj;
  }
}

/** Inflate the zlib stream at `data[start]`, which must produce exactly `size` bytes. */
function inflateExact(data: Buffer, start: number, size: number): Buffer {
  // zlib stops at the end of the stream, so the rest of the pack is never decoded. A chunk a
  // little larger than the object makes one exact allocation instead of 16 KiB pieces.
  const out = zlib.inflateSync(data.subarray(start), { maxOutputLength: Math.max(size, 1), chunkSize: Math.max(size + 64, 64) });
  if (out.length !== size) throw new Error(`object at ${start} inflates to ${out.length} bytes, not ${size}`);
  return out;
}

/** Rebuild an object from its delta base and a git delta (copy and insert instructions). */
function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let p = 0;
  const byte = (): number => {
    const b = delta[p++];
    if (b === undefined) throw new Error('delta truncated');
    return b;
  };
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      c = byte();
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return v;
  };
  if (varint() !== base.length) throw new Error('delta does not fit its base');
  const out = Buffer.allocUnsafe(varint());
  let o = 0;
  while (p < delta.length) {
    const op = byte();
    if (op & 0x80) {
      let from = 0;
      let len = 0;
      if (op & 0x01) from += byte();
      if (op & 0x02) from += byte() * 0x100;
      if (op & 0x04) from += byte() * 0x10000;
      if (op & 0x08) from += byte() * 0x1000000;
      if (op & 0x10) len += byte();
      if (op & 0x20) len += byte() * 0x100;
      if (op & 0x40) len += byte() * 0x10000;
      if (len === 0) len = 0x10000;
      if (from + len > base.length || o + len > out.length) throw new Error('delta copies out of bounds');
      base.copy(out, o, from, from + len);
      o += len;
    } else if (op !== 0) {
      if (p + op > delta.length || o + op > out.length) throw new Error('delta inserts out of bounds');
      delta.copy(out, o, p, p + op);
      p += op;
      o += op;
    } else {
      throw new Error('delta has a reserved instruction');
    }
  }
  if (o !== out.length) throw new Error('delta result has the wrong size');
  return out;
}

/**
 * Reads the objects of one repository for the length of one operation: packs through
 * {@link Pack}, loose objects directly, and anything else (say a pack with a version-1
 * index) through isomorphic-git.
 *
 * For every object isomorphic-git stats the gitdir, lists objects/pack, probes for a loose
 * file (building an ENOENT error with a stack trace) and tests the fs twice by provoking
 * TypeErrors; so it is handed an fs that answers those probes from listings taken once. If
 * an object then seems missing, packs and listings are reloaded and the read retried,
 * because a concurrent push or gc may have moved it.
 */
export class RepoReader {
  readonly gitdir: string;
  readonly label: string;
  /** isomorphic-git's own cache: loaded pack indexes and packs. */
  readonly cache: object = {};
  private listings = new Map<string, Promise<Set<string> | null>>();
  private gitdirStat: Promise<fs.Stats> | undefined;
  private packs: Promise<Pack[]> | undefined;
  /** The fs to hand isomorphic-git for this repository (see above). */
  readonly fs: PromiseFsClient;
  // One shared error object: rejecting with it costs no stack capture.
  private static readonly ENOENT = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });

  constructor(gitdir: string) {
    this.gitdir = path.resolve(gitdir);
    this.label = repoLabel(gitdir);
    const real = fs.promises;
    const rel = (p: unknown): string | null => {
      if (typeof p !== 'string' || !p.startsWith(this.gitdir + '/')) return null;
      return p.slice(this.gitdir.length + 1);
    };
    this.fs = {
      promises: {
        readFile: (p?: string, opts?: unknown) => {
          // isomorphic-git calls readFile() without arguments to tell promise from callback APIs.
          if (p === undefined) return Promise.reject(RepoReader.ENOENT);
          const m = LOOSE_OBJECT.exec(rel(p) ?? '');
          if (m?.[1] && m[2]) {
            const dir = m[1];
            const name = m[2];
            return this.list(`objects/${dir}`).then((names) =>
              names?.has(name) ? real.readFile(p, opts as undefined) : Promise.reject(RepoReader.ENOENT),
            );
          }
          return real.readFile(p, opts as undefined);
        },
        readdir: (p: string, opts?: unknown) => {
          const r = rel(p);
          if (r !== null && (r === 'objects/pack' || /^objects\/[0-9a-f]{2}$/.test(r))) {
            return this.list(r).then((names) => (names ? [...names] : Promise.reject(RepoReader.ENOENT)));
          }
          return real.readdir(p, opts as undefined);
        },
        stat: (p: string, opts?: unknown) => {
          if (p === this.gitdir) return (this.gitdirStat ??= real.stat(p));
          return real.stat(p, opts as undefined);
        },
        writeFile: real.writeFile,
        unlink: real.unlink,
        mkdir: real.mkdir,
        rmdir: real.rmdir,
        lstat: real.lstat,
        readlink: real.readlink,
        symlink: real.symlink,
        chmod: real.chmod,
      },
    };
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

  /** An object's type and raw content, or null when the repository does not have it. */
  async read(oid: string): Promise<RawObject | null> {
    const first = await this.readOnce(oid);
    if (first !== null) return first;
    this.listings.clear();
    this.gitdirStat = undefined;
    this.packs = undefined;
    const second = await this.readOnce(oid);
    if (second === null) await assertRepoExists(this.gitdir);
    return second;
  }

  private loadPacks(): Promise<Pack[]> {
    return (this.packs ??= (async () => {
      const dir = path.join(this.gitdir, 'objects', 'pack');
      const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
      const packs = await Promise.all(names.filter((n) => n.endsWith('.idx')).map((n) => Pack.open(path.join(dir, n)).catch(() => null)));
      return packs.filter((p): p is Pack => p !== null);
    })());
  }

  private async readOnce(oid: string): Promise<RawObject | null> {
    if (/^[0-9a-f]{40}$/.test(oid)) {
      const raw = Buffer.from(oid, 'hex');
      for (const pack of await this.loadPacks()) {
        const offset = pack.offsetOf(raw);
        if (offset === null) continue;
        try {
          return await pack.readAt(offset, (base) => this.read(base));
        } catch (e) {
          if (e instanceof PocketbuildError) throw e;
          throw corrupt(this.gitdir, 'object', oid, `cannot be read from ${path.basename(pack.file)} (${(e as Error).message})`);
        }
      }
      const loose = await this.readLoose(oid);
      if (loose !== null) return loose;
    }
    return this.readViaIsomorphicGit(oid);
  }

  /**
   * A loose object, or null when there is none. Read here rather than by isomorphic-git for
   * the same reason as packs: its pako inflate and per-call overhead made an export of a
   * repository of small pushes (all loose objects) several times slower than git.
   */
  private async readLoose(oid: string): Promise<RawObject | null> {
    const dir = oid.slice(0, 2);
    if (!(await this.list(`objects/${dir}`))?.has(oid.slice(2))) return null;
    let data: Buffer;
    try {
      // Synchronous: fs.promises.readFile takes four thread-pool round trips for a few bytes.
      data = fs.readFileSync(path.join(this.gitdir, 'objects', dir, oid.slice(2)));
    } catch (e) {
      // Packed away by a concurrent gc since the listing: the caller retries with fresh listings.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    let raw: Buffer;
    try {
      raw = zlib.inflateSync(data);
    } catch (e) {
      throw corrupt(this.gitdir, 'object', oid, `cannot be inflated (${(e as Error).message})`);
    }
    const nul = raw.indexOf(0);
    const header = /^(commit|tree|blob|tag) (\d+)$/.exec(raw.toString('latin1', 0, nul === -1 ? 0 : nul));
    if (!header?.[1] || Number(header[2]) !== raw.length - nul - 1) throw corrupt(this.gitdir, 'object', oid, 'has a malformed header');
    return { type: header[1] as ObjectType, content: raw.subarray(nul + 1) };
  }

  private async readViaIsomorphicGit(oid: string): Promise<RawObject | null> {
    try {
      // The raw form rather than isomorphic-git's parsed one: tree entries get validated by
      // our rules, and odd-but-valid modes such as 100664 do not abort an export.
      const r = await git.readObject({ fs: this.fs, gitdir: this.gitdir, oid, format: 'content', cache: this.cache });
      if (r.format !== 'content') throw corrupt(this.gitdir, 'object', oid, 'could not be read');
      const content = Buffer.isBuffer(r.object) ? r.object : Buffer.from(r.object.buffer, r.object.byteOffset, r.object.byteLength);
      return { type: r.type, content };
    } catch (e) {
      if (igCode(e) === 'NotFoundError') return null;
      throw e;
    }
  }

  /** Every object id starting with `prefix` (lower-case hex). */
  async expand(prefix: string): Promise<string[]> {
    try {
      return [await git.expandOid({ fs: this.fs, gitdir: this.gitdir, oid: prefix, cache: this.cache })];
    } catch (e) {
      if (igCode(e) === 'AmbiguousError') {
        return ((e as { data?: { matches?: unknown } }).data?.matches as string[] | undefined) ?? [];
      }
      if (igCode(e) === 'NotFoundError') return [];
      throw e;
    }
  }

  /** Read and parse tree `oid`, failing clearly when it is missing or not a tree. */
  async tree(oid: string): Promise<TreeEntry[]> {
    const obj = await this.read(oid);
    if (!obj) throw corrupt(this.gitdir, 'tree', oid, 'is missing');
    if (obj.type !== 'tree') {
      throw new PocketbuildError('NotATree', `object ${shortOid(oid)} in ${this.label} is a ${obj.type}, not a tree.`, {
        gitdir: this.gitdir,
        oid,
        type: obj.type,
      });
    }
    return parseTree(this.gitdir, oid, obj.content);
  }

  /** Follow annotated tags (possibly nested) to the object they name; null when something is missing. */
  async peel(oid: string): Promise<({ oid: string } & RawObject) | null> {
    let current = oid;
    // Tags of tags exist but long chains do not; the bound only stops a crafted loop.
    for (let hops = 0; hops < 32; hops++) {
      const obj = await this.read(current);
      if (!obj) return null;
      if (obj.type !== 'tag') return { oid: current, ...obj };
      const m = /^object ([0-9a-f]{40})$/m.exec(obj.content.toString('latin1', 0, Math.min(obj.content.length, 200)));
      if (!m?.[1]) throw corrupt(this.gitdir, 'tag', current);
      current = m[1];
    }
    throw corrupt(this.gitdir, 'tag', oid, 'nests too deeply to resolve');
  }

  /** The commit an id denotes (tags peeled), failing clearly when it is missing or no commit. */
  async commit(oid: string): Promise<{ oid: string; content: Buffer }> {
    const target = await this.peel(oid);
    if (target === null) {
      throw new NotFoundError(`commit ${shortOid(oid)} is not in ${this.label}; did you push it?`, { gitdir: this.gitdir, oid });
    }
    if (target.type !== 'commit') {
      throw new PocketbuildError('NotACommit', `object ${shortOid(oid)} in ${this.label} is a ${target.type}, not a commit.`, {
        gitdir: this.gitdir,
        oid,
        type: target.type,
      });
    }
    return target;
  }

  /** The root tree of a commit, or the tree itself when given one (the `.id` of pristine-tar may be either). */
  async rootTree(oid: string): Promise<string> {
    const target = await this.peel(oid);
    if (target?.type === 'tree') return target.oid;
    const commit = await this.commit(oid);
    const m = /^tree ([0-9a-f]{40})$/m.exec(commit.content.toString('latin1', 0, Math.min(commit.content.length, 100)));
    if (!m?.[1]) throw corrupt(this.gitdir, 'commit', commit.oid);
    return m[1];
  }

  /**
   * The entry at `p` below tree `treeOid`, not following symlinks; null when some component
   * is absent. An empty path yields the tree itself.
   */
  async lookup(treeOid: string, p: string): Promise<TreeEntry | null> {
    let entry: TreeEntry = { name: Buffer.alloc(0), kind: 'tree', oid: treeOid };
    for (const part of splitTreePath(p)) {
      if (entry.kind !== 'tree') return null;
      const want = Buffer.from(part, 'utf8');
      const next = (await this.tree(entry.oid)).find((e) => e.name.equals(want));
      if (!next) return null;
      entry = next;
    }
    return entry;
  }
}

/** Parse a raw tree object. Names are not checked here; callers that write to disk must. */
function parseTree(gitdir: string, oid: string, content: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(0x20, at);
    const nul = space === -1 ? -1 : content.indexOf(0, space + 1);
    if (space === -1 || nul === -1 || nul + 21 > content.length) throw corrupt(gitdir, 'tree', oid, `is truncated at byte ${at}`);
    const modeText = content.toString('latin1', at, space);
    if (!/^[0-7]{5,6}$/.test(modeText)) throw corrupt(gitdir, 'tree', oid, `has a bad mode ${JSON.stringify(modeText)}`);
    const mode = parseInt(modeText, 8);
    let kind: EntryKind;
    // Canonicalised as git does: any regular-file mode counts, the owner x bit decides.
    switch (mode & 0o170000) {
      case 0o040000:
        kind = 'tree';
        break;
      case 0o100000:
        kind = mode & 0o100 ? 'exec' : 'file';
        break;
      case 0o120000:
        kind = 'symlink';
        break;
      case 0o160000:
        kind = 'submodule';
        break;
      default:
        throw corrupt(gitdir, 'tree', oid, `has an unknown mode ${modeText}`);
    }
    entries.push({ name: content.subarray(space + 1, nul), kind, oid: content.toString('hex', nul + 1, nul + 21) });
    at = nul + 21;
  }
  return entries;
}

/** Split a repository-relative path, refusing anything that could step outside the tree. */
function splitTreePath(p: string): string[] {
  const parts = p.split('/').filter((c) => c !== '');
  if (parts.some((c) => c === '.' || c === '..')) {
    throw new PocketbuildError('BadPath', `path ${JSON.stringify(p)} must not contain "." or ".." components.`, { path: p });
  }
  return parts;
}

/**
 * True when `name` is acceptable to `git check-ref-format` (simplified). Checked before any
 * lookup because isomorphic-git builds file paths from ref names, and a spec such as
 * `../../x` must not read files outside the repository.
 */
export function isValidRefName(name: string): boolean {
  if (name === '' || name === '@' || name.startsWith('/') || name.endsWith('/') || name.endsWith('.')) return false;
  if (name.includes('..') || name.includes('//') || name.includes('@{')) return false;
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  return name.split('/').every((c) => c !== '' && !c.startsWith('.') && !c.endsWith('.lock'));
}

/** Candidate full ref names for a short one, in the order `git rev-parse` tries them. */
function refCandidates(spec: string): string[] {
  if (spec === 'HEAD') return ['HEAD'];
  if (spec.startsWith('refs/')) return [spec];
  return [`refs/${spec}`, `refs/tags/${spec}`, `refs/heads/${spec}`, `refs/remotes/${spec}`, `refs/remotes/${spec}/HEAD`];
}

/**
 * The id a ref points at, following symbolic refs (HEAD) but not peeling annotated tags;
 * null when the ref does not exist. `ref` is a full name (`refs/heads/main`), `HEAD`, or a
 * short name expanded the way git does (tags before branches).
 */
export async function readRef(gitdir: string, ref: string): Promise<string | null> {
  if (!isValidRefName(ref)) {
    throw new PocketbuildError('BadRefName', `${JSON.stringify(ref)} is not a valid git ref name.`, { gitdir, ref });
  }
  for (const full of refCandidates(ref)) {
    try {
      return await git.resolveRef({ fs, gitdir, ref: full });
    } catch (e) {
      if (igCode(e) !== 'NotFoundError') throw e;
    }
  }
  await assertRepoExists(gitdir);
  return null;
}

/**
 * Resolve a user's revision to a commit id. `spec` may be a full id, a hex prefix of at least
 * four digits, or a ref (`main`, `refs/heads/x`, `v1.0`); annotated tags are peeled. As in
 * git, a name that is both a ref and a hex prefix means the ref, and a prefix shared by one
 * commit and some non-commits means that commit.
 */
export async function resolveCommit(gitdir: string, spec: string): Promise<string> {
  const repo = new RepoReader(gitdir);
  const isHex = HEX_PREFIX.test(spec);
  if (!isHex && !isValidRefName(spec)) {
    throw new PocketbuildError('BadRevision', `${JSON.stringify(spec)} is neither a commit id nor a valid branch or tag name.`, {
      gitdir,
      spec,
    });
  }
  let oid: string | null = null;
  if (spec.length === 40 && isHex) {
    oid = spec.toLowerCase();
  } else {
    oid = await readRef(gitdir, spec);
    if (oid === null && isHex) oid = await expandPrefix(repo, spec.toLowerCase());
    if (oid === null) {
      throw new NotFoundError(`there is no ${isHex ? 'commit, branch or tag' : 'branch or tag'} ${spec} in ${repo.label}; did you push it?`, {
        gitdir,
        spec,
      });
    }
  }
  const target = await repo.peel(oid);
  if (target === null) {
    throw new NotFoundError(`commit ${shortOid(oid)} is not in ${repo.label}; did you push it?`, { gitdir, spec, oid });
  }
  if (target.type !== 'commit') {
    throw new PocketbuildError('NotACommit', `${spec} names a ${target.type} in ${repo.label}, not a commit; give a commit id, branch or tag.`, {
      gitdir,
      spec,
      oid: target.oid,
      type: target.type,
    });
  }
  return target.oid;
}

async function expandPrefix(repo: RepoReader, prefix: string): Promise<string | null> {
  const matches = await repo.expand(prefix);
  if (matches.length === 0) {
    await assertRepoExists(repo.gitdir);
    return null;
  }
  if (matches.length === 1) return matches[0] ?? null;
  const commits: string[] = [];
  for (const m of matches) if ((await repo.peel(m))?.type === 'commit') commits.push(m);
  if (commits.length === 1) return commits[0] ?? null;
  throw ambiguousPrefixError(repo.gitdir, prefix, matches);
}

function ambiguousPrefixError(gitdir: string, prefix: string, candidates: string[]): PocketbuildError {
  const shown = candidates.map((c) => c.slice(0, Math.max(prefix.length + 2, 10))).join(', ');
  return new PocketbuildError(
    'AmbiguousRevision',
    `${prefix} matches ${candidates.length} objects in ${repoLabel(gitdir)} (${shown}); give more digits of the commit id.`,
    { gitdir, spec: prefix, candidates },
  );
}

/** The root tree id of a commit (annotated tags are peeled first). */
export async function treeOf(gitdir: string, commit: string): Promise<string> {
  const repo = new RepoReader(gitdir);
  await repo.commit(commit);
  return repo.rootTree(commit);
}

/**
 * The content of the regular file at `p` in `commit`, or null when nothing is there.
 * Symlinks are not followed: a symlink, directory or submodule at `p` is an error, since
 * handing back a link target as if it were the file would mislead every caller.
 */
export async function readBlobAt(gitdir: string, commit: string, p: string): Promise<Buffer | null> {
  const repo = new RepoReader(gitdir);
  await repo.commit(commit);
  const entry = await repo.lookup(await repo.rootTree(commit), p);
  if (entry === null) return null;
  if (entry.kind !== 'file' && entry.kind !== 'exec') {
    const what = entry.kind === 'tree' ? 'a directory' : entry.kind === 'symlink' ? 'a symlink' : 'a submodule';
    throw new PocketbuildError('NotARegularFile', `${p} in commit ${shortOid(commit)} of ${repo.label} is ${what}, not a regular file.`, {
      gitdir,
      commit,
      path: p,
      kind: entry.kind,
    });
  }
  const obj = await repo.read(entry.oid);
  if (!obj || obj.type !== 'blob') {
    throw new PocketbuildError('CorruptObject', `${p} in commit ${shortOid(commit)} of ${repo.label} cannot be read; run git fsck on the repository.`, {
      gitdir,
      commit,
      path: p,
      oid: entry.oid,
    });
  }
  return obj.content;
}

/**
 * True when `commit` is `ancestor` itself or descends from it — the test for "is this push
 * a fast-forward of what we built before". Both must be commits present in the repository.
 */
export async function isDescendant(gitdir: string, commit: string, ancestor: string): Promise<boolean> {
  const repo = new RepoReader(gitdir);
  const oid = (await repo.commit(commit)).oid;
  const base = (await repo.commit(ancestor)).oid;
  if (oid === base) return true;
  try {
    return await git.isDescendent({ fs: repo.fs, gitdir: repo.gitdir, oid, ancestor: base, depth: -1, cache: repo.cache });
  } catch (e) {
    // A shallow or damaged history can name parents that are not here.
    if (igCode(e) === 'NotFoundError') {
      throw new NotFoundError(`the history of ${shortOid(oid)} in ${repo.label} is incomplete; run git fsck on the repository.`, {
        gitdir,
        commit,
        ancestor,
      });
    }
    throw e;
  }
}
