import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import type { BuilderKey } from './builder-key.js';

/**
 * A signed statement of the audit log's size and chain head, in the layout of a C2SP
 * signed note / tlog-checkpoint (with the chain head where a Merkle root would be):
 *
 *   <origin>\n<size>\n<base64 head>\n
 *   \n
 *   — <origin> <base64(key hash[4] ‖ Ed25519 signature)>\n
 *
 * Mailed off the machine with every notification, it pins history: a log rewritten later
 * no longer has this head after `size` entries (README.md, "Audit log").
 */
export interface Checkpoint {
  origin: string;
  /** Number of entries the head covers. */
  size: number;
  /** sha256 (hex) of entry size-1; 64 zeros for an empty log. */
  head: string;
}

const EM_DASH = '\u2014';

/** The origin line for a builder id: the URI without its scheme, plus /audit. */
export function auditOrigin(builderId: string): string {
  return `${builderId.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')}/audit`;
}

export function signCheckpoint(c: Checkpoint, key: BuilderKey): string {
  const body = checkpointBody(c);
  const sig = sign(null, Buffer.from(body), key.privateKey);
  return `${body}\n${EM_DASH} ${c.origin} ${Buffer.concat([noteKeyHash(c.origin, key.publicKey), sig]).toString('base64')}\n`;
}

export type CheckpointVerdict = { ok: true; checkpoint: Checkpoint } | { ok: false; problem: string };

/** Verify a signed checkpoint's text with the builder's public key, then parse it. */
export function verifyCheckpoint(text: string, publicKey: KeyObject): CheckpointVerdict {
  const split = text.indexOf('\n\n');
  if (split < 0) return { ok: false, problem: 'no blank line between the checkpoint and its signature' };
  const body = text.slice(0, split + 1);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) return { ok: false, problem: 'the checkpoint has fewer than three lines' };
  const [origin, sizeText, headB64] = lines as [string, string, string];
  const sigLines = text
    .slice(split + 2)
    .split('\n')
    .filter(Boolean);
  const hash = noteKeyHash(origin, publicKey);
  const good = sigLines.some((l) => {
    const m = new RegExp(`^${EM_DASH} (\\S+) ([A-Za-z0-9+/=]+)$`).exec(l);
    if (!m || m[1] !== origin) return false;
    const raw = Buffer.from(m[2]!, 'base64');
    return (
      raw.length === 68 &&
      raw.subarray(0, 4).equals(hash) &&
      verify(null, Buffer.from(body), publicKey, raw.subarray(4))
    );
  });
  if (!good) return { ok: false, problem: `no signature by the builder key for origin ${origin}` };
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText))
    return { ok: false, problem: `size ${JSON.stringify(sizeText)} is not a number` };
  const head = Buffer.from(headB64, 'base64');
  if (head.length !== 32) return { ok: false, problem: 'the head is not a base64 sha256' };
  return { ok: true, checkpoint: { origin, size: Number(sizeText), head: head.toString('hex') } };
}

function checkpointBody(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${Buffer.from(c.head, 'hex').toString('base64')}\n`;
}

/** The signed-note key hash: the first 4 bytes of sha256(name ‖ \n ‖ 0x01 ‖ Ed25519 public key). */
function noteKeyHash(name: string, publicKey: KeyObject): Buffer {
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return createHash('sha256')
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([1]), raw]))
    .digest()
    .subarray(0, 4);
}
