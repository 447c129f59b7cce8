import { formatBytes, ObjectFault } from './raw-object.js';

/**
 * Rebuild an object from its delta base and a git delta: two sizes (base, result), then copy
 * instructions (a range of the base) and insert instructions (bytes of the delta). Every
 * size and range is checked against the buffers and `maxBytes` before anything is copied or
 * allocated, since a delta comes from whoever pushed it.
 */
export function applyDelta(base: Buffer, delta: Buffer, maxBytes: number): Buffer {
  let p = 0;
  const byte = (): number => {
    const b = delta[p++];
    if (b === undefined) throw new ObjectFault('damaged', 'delta is truncated');
    return b;
  };
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      // git keeps sizes in 64 bits; a longer varint only serves to overflow.
      if (shift >= 64) throw new ObjectFault('damaged', 'delta has an overlong size');
      c = byte();
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return v;
  };
  const baseSize = varint();
  if (baseSize !== base.length)
    throw new ObjectFault('damaged', `delta is for a base of ${baseSize} bytes, not ${base.length}`);
  const size = varint();
  if (size > maxBytes) throw new ObjectFault('too-large', `a delta makes ${formatBytes(size)}`);
  const out = Buffer.allocUnsafe(size);
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
      if (from + len > base.length || o + len > size) throw new ObjectFault('damaged', 'delta copies out of bounds');
      base.copy(out, o, from, from + len);
      o += len;
    } else if (op !== 0) {
      if (p + op > delta.length || o + op > size) throw new ObjectFault('damaged', 'delta inserts out of bounds');
      delta.copy(out, o, p, p + op);
      p += op;
      o += op;
    } else {
      throw new ObjectFault('damaged', 'delta has a reserved instruction');
    }
  }
  if (o !== size) throw new ObjectFault('damaged', `delta makes ${o} bytes, not the ${size} it declares`);
  return out;
}
