import { sign, verify, type KeyObject } from 'node:crypto';

/** A DSSE envelope (secure-systems-lab/dsse, protocol.md). */
export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** Pre-Authentication Encoding: what is signed, so the type cannot be swapped under a signature. */
export function pae(type: string, body: Buffer): Buffer {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body]);
}

export function signEnvelope(type: string, body: Buffer, key: { privateKey: KeyObject; keyid: string }): Envelope {
  const sig = sign(null, pae(type, body), key.privateKey);
  return {
    payloadType: type,
    payload: body.toString('base64'),
    signatures: [{ keyid: key.keyid, sig: sig.toString('base64') }],
  };
}

export type EnvelopeVerdict = { ok: true; body: Buffer } | { ok: false; problem: string };

/**
 * Check the signature before anything is parsed (the payload is untrusted until then), then
 * the type. The keyid is not authenticated, so it only selects: a signature naming another
 * key is not tried (so no byte of a verified envelope can change unnoticed). Standard and
 * URL-safe base64 are both accepted, as DSSE requires, but only in canonical form.
 */
export function verifyEnvelope(
  env: unknown,
  publicKey: KeyObject,
  expectType: string,
  keyid?: string,
): EnvelopeVerdict {
  if (!isEnvelope(env)) return { ok: false, problem: 'not a DSSE envelope (payloadType, payload, signatures)' };
  const body = decodeBase64(env.payload);
  if (!body) return { ok: false, problem: 'the payload is not base64' };
  const message = pae(env.payloadType, body);
  const good = env.signatures.some((s) => {
    if (keyid !== undefined && s.keyid !== undefined && s.keyid !== '' && s.keyid !== keyid) return false;
    const sig = decodeBase64(s.sig);
    return sig !== null && sig.length === 64 && verify(null, message, publicKey, sig);
  });
  if (!good) return { ok: false, problem: 'no signature verifies with the given key' };
  if (env.payloadType !== expectType)
    return { ok: false, problem: `payloadType is ${JSON.stringify(env.payloadType)}, expected ${expectType}` };
  return { ok: true, body };
}

function isEnvelope(v: unknown): v is Envelope {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.payloadType === 'string' &&
    typeof e.payload === 'string' &&
    Array.isArray(e.signatures) &&
    e.signatures.every(
      (s) => typeof s === 'object' && s !== null && typeof (s as Record<string, unknown>).sig === 'string',
    )
  );
}

/**
 * Strict base64 (standard or URL-safe alphabet). Buffer.from alone skips garbage and
 * ignores the unused low bits of the last character, so the result is re-encoded and
 * compared: one text, one value.
 */
function decodeBase64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) return null;
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  const buf = Buffer.from(std, 'base64');
  const again = buf.toString('base64');
  return again === std || again.replace(/=+$/, '') === std ? buf : null;
}
