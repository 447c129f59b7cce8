import fs from 'node:fs';
import { ObjectFault } from './raw-object.js';

const MAGIC = 0xff744f63;
const FANOUT = 8;
const NAMES = FANOUT + 256 * 4;
/** The checksums of the pack and of the index itself. */
const TRAILER = 40;

/**
 * A version-2 pack index (`objects/pack/*.idx`): which objects a pack holds and where. Its
 * tables are checked for consistency when it is opened, so that no lookup can read outside
 * them. Version-1 indexes, which git has not written since 2007, are not read.
 */
export class PackIndex {
  private constructor(
    readonly file: string,
    private readonly idx: Buffer,
    /** How many objects the pack holds. */
    readonly count: number,
    private readonly largeOffsets: number,
  ) {}

  /**
   * The index in `file`; null when it is no version-2 index (say version 1). A version-2
   * index whose tables do not fit together is damage: an ObjectFault.
   */
  static async open(file: string): Promise<PackIndex | null> {
    const idx = await fs.promises.readFile(file);
    if (idx.length < 8 || idx.readUInt32BE(0) !== MAGIC) return null;
    const version = idx.readUInt32BE(4);
    if (version !== 2) throw new ObjectFault('damaged', `it is a version-${version} index`);
    if (idx.length < NAMES + TRAILER) throw new ObjectFault('damaged', 'it is truncated');
    let previous = 0;
    for (let i = 0; i < 256; i++) {
      const n = idx.readUInt32BE(FANOUT + i * 4);
      if (n < previous) throw new ObjectFault('damaged', 'its fan-out table is not sorted');
      previous = n;
    }
    const count = previous;
    const rest = idx.length - NAMES - count * 28 - TRAILER;
    // What follows the fixed tables is the table of 64-bit offsets, for packs over 2 GiB.
    if (rest < 0 || rest % 8 !== 0) throw new ObjectFault('damaged', `its size does not fit ${count} objects`);
    return new PackIndex(file, idx, count, rest / 8);
  }

  /** The checksum that ends the pack this index belongs to. */
  get packChecksum(): Buffer {
    return this.idx.subarray(this.idx.length - TRAILER, this.idx.length - 20);
  }

  /** Where object `oid` (20 raw bytes) starts in the pack, or null when it is not in it. */
  offsetOf(oid: Buffer): number | null {
    let [lo, hi] = this.bucket(oid[0] ?? 0);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = NAMES + mid * 20;
      const cmp = this.idx.compare(oid, 0, 20, at, at + 20);
      if (cmp === 0) return this.offsetAt(mid);
      if (cmp > 0) hi = mid;
      else lo = mid + 1;
    }
    return null;
  }

  /** The ids of every object in the pack that starts with `prefix` (lower-case hex). */
  expand(prefix: string): string[] {
    let [lo, hi] = prefix.length >= 2 ? this.bucket(parseInt(prefix.slice(0, 2), 16)) : [0, this.count];
    // The first name not below the prefix padded with zeros; matches, if any, follow it.
    const low = Buffer.from(prefix.padEnd(40, '0').slice(0, 40), 'hex');
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = NAMES + mid * 20;
      // Compares the entry's name with `low`.
      if (this.idx.compare(low, 0, 20, at, at + 20) < 0) lo = mid + 1;
      else hi = mid;
    }
    const found: string[] = [];
    for (let i = lo; i < this.count; i++) {
      const name = this.idx.toString('hex', NAMES + i * 20, NAMES + i * 20 + 20);
      if (!name.startsWith(prefix)) break;
      found.push(name);
    }
    return found;
  }

  /** The range of entries whose names start with byte `first`. */
  private bucket(first: number): [number, number] {
    return [
      first === 0 ? 0 : this.idx.readUInt32BE(FANOUT + (first - 1) * 4),
      this.idx.readUInt32BE(FANOUT + first * 4),
    ];
  }

  private offsetAt(i: number): number {
    const offsets = NAMES + this.count * 24;
    const small = this.idx.readUInt32BE(offsets + i * 4);
    if (!(small & 0x80000000)) return small;
    // Packs over 2 GiB keep large offsets in a separate 64-bit table.
    const large = small & 0x7fffffff;
    if (large >= this.largeOffsets)
      throw new ObjectFault('damaged', `the index names large offset ${large} of ${this.largeOffsets}`);
    return Number(this.idx.readBigUInt64BE(offsets + this.count * 4 + large * 8));
  }
}
