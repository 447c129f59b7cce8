import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { applyDelta } from './delta.js';
import type { PackIndex } from './pack-index.js';
import { formatBytes, ObjectFault, type ObjectType, type RawObject, type ReadLimits } from './raw-object.js';

const PACK_TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;
/** `PACK`, version, object count. */
const HEADER = 12;
/** The checksum of everything before it. */
const TRAILER = 20;
/** Delta bases kept per pack: plenty for git's default chain depth of 50, bounded in memory. */
const BASE_CACHE_ENTRIES = 256;
const BASE_CACHE_BYTES = 64 * 1024 * 1024;
/**
 * The largest output buffer allocated before inflating. Up to it, an object is inflated into
 * one buffer of exactly its size; above it zlib's pieces are joined, which costs a copy but
 * keeps a lying size header from reserving a gigabyte for a few bytes of data.
 */
const EXACT_INFLATE_BYTES = 16 * 1024 * 1024;

/** An object read from a pack, with the number of deltas it was rebuilt through. */
export interface PackedObject {
  object: RawObject;
  deltas: number;
}

/**
 * The deltas being resolved for one read, innermost last: to bound the chain's length and to
 * notice a chain that comes back to an entry it passed (which only ref-deltas can do, as an
 * ofs-delta's base always lies before it).
 */
export interface DeltaChain {
  readonly pack: string;
  readonly offset: number;
  /** How many deltas, this one included, lie above the base being fetched. */
  readonly depth: number;
  readonly outer: DeltaChain | null;
}

/** Reads a ref-delta's base that is not in this pack: from another pack or a loose object. */
export type ExternalBase = (oid: string, chain: DeltaChain) => Promise<PackedObject | null>;

/**
 * A pack file read directly. isomorphic-git inflates every packed object with pako in
 * JavaScript and spends far more on per-call overhead than on the data; exporting ten
 * thousand files took about four times as long as `git archive | tar -x`. Native zlib brings
 * that within the budget. Like isomorphic-git, a pack is read into memory whole, so packs
 * over 2 GiB cannot be read.
 *
 * Damage, and anything beyond the {@link ReadLimits}, is thrown as an {@link ObjectFault}.
 */
export class Pack {
  readonly file: string;
  readonly name: string;
  private data: Promise<Buffer> | undefined;
  private readonly bases = new Map<number, PackedObject>();
  private basesBytes = 0;

  constructor(
    readonly index: PackIndex,
    private readonly limits: ReadLimits,
  ) {
    this.file = index.file.replace(/\.idx$/, '.pack');
    this.name = path.basename(this.file);
  }

  /** The object at `offset`, as found by the index. */
  async read(offset: number, external: ExternalBase, chain: DeltaChain | null = null): Promise<PackedObject> {
    const data = await (this.data ??= this.load());
    const end = data.length - TRAILER;
    if (offset < HEADER || offset >= end) throw damaged(`offset ${offset} is outside the pack`);
    let p = offset;
    const byte = (): number => {
      if (p >= end) throw damaged(`the entry at offset ${offset} is truncated`);
      return data[p++]!;
    };
    let c = byte();
    const type = (c >> 4) & 7;
    let size = c & 15;
    let shift = 4;
    while (c & 0x80) {
      if (shift >= 64) throw damaged(`the entry at offset ${offset} has an overlong size`);
      c = byte();
      size += (c & 0x7f) * 2 ** shift;
      shift += 7;
    }
    if (size > this.limits.maxObjectBytes) {
      throw new ObjectFault('too-large', `the entry at offset ${offset} declares ${formatBytes(size)}`);
    }
    if (type !== OFS_DELTA && type !== REF_DELTA) {
      const known = PACK_TYPES[type];
      if (!known) throw damaged(`the entry at offset ${offset} has unknown type ${type}`);
      return { object: { type: known, content: inflateExact(data, p, end, size) }, deltas: 0 };
    }

    const link = this.link(offset, chain);
    let base: PackedObject;
    if (type === OFS_DELTA) {
      c = byte();
      let back = c & 0x7f;
      while (c & 0x80) {
        // Checked on the way, so that a long run of continuation bytes cannot overflow.
        if (back > offset) break;
        c = byte();
        back = (back + 1) * 128 + (c & 0x7f);
      }
      if (back === 0 || offset - back < HEADER)
        throw damaged(`the delta at offset ${offset} names a base outside the pack or itself`);
      base = await this.base(offset - back, external, link);
    } else {
      if (p + 20 > end) throw damaged(`the entry at offset ${offset} is truncated`);
      const baseOid = data.subarray(p, p + 20);
      p += 20;
      const inPack = this.index.offsetOf(baseOid);
      const found =
        inPack !== null ? await this.base(inPack, external, link) : await external(baseOid.toString('hex'), link);
      if (!found)
        throw damaged(`the delta base ${baseOid.toString('hex')} of the entry at offset ${offset} is missing`);
      base = found;
    }
    const content = applyDelta(base.object.content, inflateExact(data, p, end, size), this.limits.maxObjectBytes);
    return { object: { type: base.object.type, content }, deltas: base.deltas + 1 };
  }

  /** The pack's bytes, once they are known to be the pack the index describes, whole. */
  private async load(): Promise<Buffer> {
    const data = await fs.promises.readFile(this.file);
    // The same checks git makes when it opens a pack: a truncated or swapped pack is refused
    // here, before any entry of it is trusted.
    if (data.length < HEADER + TRAILER || data.toString('latin1', 0, 4) !== 'PACK') throw damaged('it is not a pack');
    const version = data.readUInt32BE(4);
    if (version !== 2 && version !== 3) throw damaged(`it has unknown version ${version}`);
    if (
      data.readUInt32BE(8) !== this.index.count ||
      !data.subarray(data.length - TRAILER).equals(this.index.packChecksum)
    ) {
      throw damaged('it is truncated or does not match its index');
    }
    return data;
  }

  /** The next link of a delta chain, refusing one too long or going round in a circle. */
  private link(offset: number, outer: DeltaChain | null): DeltaChain {
    const depth = (outer?.depth ?? 0) + 1;
    if (depth > this.limits.maxDeltaDepth)
      throw new ObjectFault('too-deep', `it is more than ${this.limits.maxDeltaDepth} deltas deep`);
    for (let l = outer; l !== null; l = l.outer) {
      if (l.offset === offset && l.pack === this.file)
        throw damaged(`the delta at offset ${offset} is its own base, through ${depth - l.depth} deltas`);
    }
    return { pack: this.file, offset, depth, outer };
  }

  private async base(offset: number, external: ExternalBase, chain: DeltaChain): Promise<PackedObject> {
    const hit = this.bases.get(offset);
    if (hit) {
      // A chain's length must not depend on what earlier reads left in the cache.
      if (chain.depth + hit.deltas > this.limits.maxDeltaDepth) {
        throw new ObjectFault('too-deep', `it is more than ${this.limits.maxDeltaDepth} deltas deep`);
      }
      return hit;
    }
    const found = await this.read(offset, external, chain);
    const bytes = found.object.content.length;
    if (bytes > BASE_CACHE_BYTES / 4) return found;
    for (const [key, old] of this.bases) {
      if (this.bases.size < BASE_CACHE_ENTRIES && this.basesBytes + bytes <= BASE_CACHE_BYTES) break;
      this.bases.delete(key);
      this.basesBytes -= old.object.content.length;
    }
    this.bases.set(offset, found);
    this.basesBytes += bytes;
    return found;
  }
}

function damaged(why: string): ObjectFault {
  return new ObjectFault('damaged', why);
}

/** Inflate the zlib stream at `data[start]` (ending by `end`), which must produce exactly `size` bytes. */
function inflateExact(data: Buffer, start: number, end: number, size: number): Buffer {
  let out: Buffer;
  try {
    // zlib stops at the end of the stream, so the rest of the pack is never decoded. A chunk a
    // little larger than the object makes one exact allocation instead of 16 KiB pieces; the
    // output bound stops a stream that would inflate to more than it claims.
    out = zlib.inflateSync(data.subarray(start, end), {
      maxOutputLength: Math.max(size, 1),
      chunkSize: Math.max(Math.min(size, EXACT_INFLATE_BYTES) + 64, 64),
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw damaged(`the data at offset ${start} inflates to more than ${size} bytes`);
    throw damaged(`the data at offset ${start} cannot be inflated (${(e as Error).message})`);
  }
  if (out.length !== size) throw damaged(`the data at offset ${start} inflates to ${out.length} bytes, not ${size}`);
  return out;
}
