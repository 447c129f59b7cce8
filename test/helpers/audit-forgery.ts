import canonicalize from 'canonicalize';
import { sha256, ZERO_HASH } from '../../src/record/audit-log.js';

/**
 * Edit entry `at` of an audit log and re-chain every later one (seq and prev), so the log's
 * own chain still verifies: the attack that only an anchor kept elsewhere can catch.
 */
export function rewriteAndRechain(lines: string[], at: number, edit: (e: Record<string, unknown>) => void): string[] {
  const out = lines.slice(0, at);
  let prev = at === 0 ? ZERO_HASH : sha256(out[at - 1]!);
  for (let i = at; i < lines.length; i++) {
    const e = JSON.parse(lines[i]!) as Record<string, unknown>;
    if (i === at) edit(e);
    e.seq = i;
    e.prev = prev;
    const line = canonicalize(e)!;
    out.push(line);
    prev = sha256(line);
  }
  return out;
}
