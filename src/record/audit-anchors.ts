import type { KeyObject } from 'node:crypto';
import { sha256, ZERO_HASH } from './audit-log.js';
import { verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { findArmoredCheckpoints } from './checkpoint-armor.js';
import type { MailMessage } from './mbox.js';

/** A signed checkpoint as found somewhere off the machine (a mailbox), not yet verified. */
export interface FoundCheckpoint {
  text: string;
  /** Where it was found, for messages: "message 3". */
  where: string;
  date: string | null;
}

/** A checkpoint whose signature verified: a claim by the builder about its log at one moment. */
export interface Anchor {
  checkpoint: Checkpoint;
  where: string;
  date: string | null;
}

export interface AnchorReport {
  /** Checkpoints found, whatever their signature. */
  found: number;
  /** Checkpoints whose signature verified and that were compared with the log. */
  checked: number;
  /** Distinct (size, head) pairs among those. */
  distinct: number;
  /** The anchor covering the most entries, if any verified. */
  newest: Anchor | null;
  /** One line each: bad signatures, rewrites, truncation, two histories signed. Empty when all agree. */
  problems: string[];
}

/** Every armored checkpoint in every message's text, in mailbox order. */
export function checkpointsInMail(messages: MailMessage[]): FoundCheckpoint[] {
  return messages.flatMap((m) =>
    m.texts.flatMap(findArmoredCheckpoints).map((text) => ({ text, where: `message ${m.index}`, date: m.date })),
  );
}

/**
 * Compare a local audit log (its lines, without newlines) with checkpoints kept elsewhere.
 * Each verified checkpoint says: after `size` entries the head was `head`. The local log must
 * have at least `size` entries (else it was truncated) and sha256 of entry size-1 must be
 * `head` (else history was rewritten, somewhere after the largest checkpoint that still
 * agrees). The log's own chain is checked elsewhere (verifyAuditLog): a rewrite that re-chains
 * every later entry passes that check, and only an anchor like these catches it.
 */
export function compareWithAnchors(
  logLines: readonly string[],
  found: readonly FoundCheckpoint[],
  publicKey: KeyObject,
): AnchorReport {
  const problems: string[] = [];
  const anchors: Anchor[] = [];
  for (const f of found) {
    const v = verifyCheckpoint(f.text, publicKey);
    if (v.ok) anchors.push({ checkpoint: v.checkpoint, where: f.where, date: f.date });
    else
      problems.push(
        `bad signature: the checkpoint in ${describe(f)} does not verify (${v.problem}); it was not made by this builder's key, or was altered`,
      );
  }
  // One entry per (size, head), the earliest-found one standing for the rest (the same
  // checkpoint goes to several recipients and events).
  const distinct = new Map<string, Anchor>();
  for (const a of anchors) {
    const k = `${a.checkpoint.size}:${a.checkpoint.head}`;
    if (!distinct.has(k)) distinct.set(k, a);
  }
  const sorted = [...distinct.values()].sort((x, y) => x.checkpoint.size - y.checkpoint.size);

  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (a.checkpoint.size === b.checkpoint.size) {
      problems.push(
        `two histories signed: the checkpoints in ${describe(a)} and ${describe(b)} both cover ${a.checkpoint.size} entries but have heads ${a.checkpoint.head} and ${b.checkpoint.head}`,
      );
    }
  }

  const local = logLines.length;
  const headAt = (size: number): string => (size === 0 ? ZERO_HASH : sha256(logLines[size - 1]!));
  const agrees = (a: Anchor): boolean => a.checkpoint.size <= local && headAt(a.checkpoint.size) === a.checkpoint.head;
  const rewritten = sorted.filter((a) => a.checkpoint.size <= local && !agrees(a));
  const first = rewritten[0];
  if (first) {
    const n = first.checkpoint.size;
    const before = sorted.filter((a) => a.checkpoint.size < n && agrees(a)).pop();
    const from = before?.checkpoint.size ?? 0;
    const still = before
      ? `the previous mailed checkpoint, at ${from} entries (${describe(before)}), still agrees`
      : 'no earlier mailed checkpoint agrees';
    const more = rewritten.length > 1 ? `; ${rewritten.length - 1} later mailed checkpoint(s) disagree too` : '';
    problems.push(
      `history rewritten: the mailed checkpoint of ${when(first)} says entry ${n - 1} has head ${first.checkpoint.head}, the local log has ${headAt(n)}; the change is within entries ${from}..${n - 1} (${still})${more}`,
    );
  }
  const beyond = sorted.filter((a) => a.checkpoint.size > local).pop();
  if (beyond)
    problems.push(
      `log truncated: mail saw ${beyond.checkpoint.size} entries (the checkpoint of ${when(beyond)}), the local log has ${local}`,
    );

  return {
    found: found.length,
    checked: anchors.length,
    distinct: sorted.length,
    newest: sorted[sorted.length - 1] ?? null,
    problems,
  };
}

function when(a: { date: string | null; where: string }): string {
  return a.date ? `${a.date} (${a.where})` : a.where;
}

function describe(a: { date: string | null; where: string }): string {
  return a.date ? `${a.where} of ${a.date}` : a.where;
}
