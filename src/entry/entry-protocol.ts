/**
 * The entry socket's wire format, shared with bin/pocketbuild-ssh (keep them in step).
 *
 * client → server, once:  "PBE1" NUL principal NUL command NUL   (then the client half-closes;
 *                          the command comes from SSH_ORIGINAL_COMMAND, which cannot hold NUL)
 * server → client, many:  type(1 byte) length(4 bytes, big-endian) payload
 *                          type 1 = stdout bytes, 2 = stderr bytes, 3 = exit code (1 byte), last
 */
export const MAGIC = 'PBE1';
export const FRAME = { stdout: 1, stderr: 2, exit: 3 } as const;
const MAX_PAYLOAD = 64 * 1024;
/** The command is at most 1024 bytes (the grammar refuses more), the principal 32: anything longer is not a client of ours. */
export const MAX_HEADER = 4096;

export function frames(type: number, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length || (i === 0 && data.length === 0); i += MAX_PAYLOAD) {
    const part = data.subarray(i, i + MAX_PAYLOAD);
    const head = Buffer.alloc(5);
    head.writeUInt8(type, 0);
    head.writeUInt32BE(part.length, 1);
    out.push(head, part);
    if (data.length === 0) break;
  }
  return out;
}

/** The header, once three NULs have arrived: null while incomplete; throws if it is not ours. */
export function parseHeader(buf: Buffer): { principal: string; command: string } | null {
  const nuls: number[] = [];
  for (let i = 0; i < buf.length && nuls.length < 3; i++) if (buf[i] === 0) nuls.push(i);
  if (nuls.length < 3) {
    if (buf.length > MAX_HEADER) throw new Error('header too long');
    return null;
  }
  const [a, b, c] = nuls as [number, number, number];
  if (buf.subarray(0, a).toString('latin1') !== MAGIC) throw new Error('not a pocketbuild entry client');
  return { principal: buf.subarray(a + 1, b).toString('utf8'), command: buf.subarray(b + 1, c).toString('utf8') };
}
