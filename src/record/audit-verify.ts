import fs from 'node:fs';
import canonicalize from 'canonicalize';
import { sha256, ZERO_HASH } from './audit-log.js';

export type AuditVerdict =
  | { ok: true; entries: number; head: string }
  | { ok: false; line: number; seq: number | null; problem: string; entries: number };

/**
 * Check a whole audit log: every line is one JSON object in its RFC 8785 canonical form
 * (which also catches re-serialised edits), `seq` counts lines from 0, and `prev` is the
 * sha256 of the line before (64 zeros for the first). Any edit, insertion, deletion or
 * reordering breaks one of these at or after the place it happened; the first broken line
 * is named. A truncated tail cannot be seen from the log alone: that needs an anchor kept
 * elsewhere (the e-mailed chain head, issue 5).
 */
export function verifyAuditLog(file: string): AuditVerdict {
  const text = fs.readFileSync(file, 'utf8');
  if (text === '') return { ok: true, entries: 0, head: ZERO_HASH };
  const lines = text.split('\n');
  const last = lines.pop();
  const bad = (i: number, seq: number | null, problem: string): AuditVerdict => ({
    ok: false,
    line: i + 1,
    seq,
    problem,
    entries: i,
  });
  if (last !== '')
    return bad(
      lines.length,
      null,
      'the last line has no newline: a write was torn (the next append cuts it and logs audit.repaired) or the file was cut',
    );
  let prev = ZERO_HASH;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return bad(i, null, 'not JSON');
    }
    const seq = typeof entry.seq === 'number' ? entry.seq : null;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return bad(i, seq, 'not a JSON object');
    if (canonicalize(entry) !== line)
      return bad(i, seq, 'not in canonical (RFC 8785) form: the line was edited or re-serialised');
    if (entry.v !== 1) return bad(i, seq, `unknown version ${JSON.stringify(entry.v)}`);
    for (const k of ['ts', 'type', 'actor'])
      if (typeof entry[k] !== 'string') return bad(i, seq, `field "${k}" is missing or not a string`);
    if (seq !== i)
      return bad(i, seq, `seq is ${seq}, expected ${i}: an entry was inserted, deleted or moved before this one`);
    if (entry.prev !== prev)
      return bad(
        i,
        seq,
        `prev does not match the previous line's sha256: the previous line was changed, or this one was moved`,
      );
    prev = sha256(line);
  }
  return { ok: true, entries: lines.length, head: prev };
}
