import zlib from 'node:zlib';
import { formatBytes, ObjectFault, type ObjectType, type RawObject } from './raw-object.js';

/** `<type> <size>\0`: git reads no more than this many bytes of header either. */
const MAX_HEADER = 32;
const HEADER = /^(commit|tree|blob|tag) (\d+)$/;

/**
 * The object in the bytes of a loose object file (`objects/ab/cdef...`): a zlib stream of a
 * header and the content. Inflating stops past `maxBytes`, so a small file that would inflate
 * to gigabytes costs no more than an honest object of the largest allowed size.
 */
export function parseLooseObject(data: Buffer, maxBytes: number): RawObject {
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(data, { maxOutputLength: maxBytes + MAX_HEADER });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ObjectFault('too-large', `it inflates to more than ${formatBytes(maxBytes)}`);
    }
    throw new ObjectFault('damaged', `cannot be inflated (${(e as Error).message})`);
  }
  const nul = raw.subarray(0, MAX_HEADER).indexOf(0);
  const header = nul === -1 ? null : HEADER.exec(raw.toString('latin1', 0, nul));
  if (!header?.[1] || Number(header[2]) !== raw.length - nul - 1)
    throw new ObjectFault('damaged', 'has a malformed header');
  if (Number(header[2]) > maxBytes) throw new ObjectFault('too-large', `it holds ${formatBytes(Number(header[2]))}`);
  return { type: header[1] as ObjectType, content: raw.subarray(nul + 1) };
}
