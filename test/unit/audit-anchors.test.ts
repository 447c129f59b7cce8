import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, sha256 } from '../../src/record/audit-log.js';
import { verifyAuditLog } from '../../src/record/audit-verify.js';
import { compareWithAnchors, type FoundCheckpoint } from '../../src/record/audit-anchors.js';
import { signCheckpoint } from '../../src/record/checkpoint.js';
import { keyId } from '../../src/record/builder-key.js';
import { rewriteAndRechain } from '../helpers/audit-forgery.js';

const pair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyid: keyId(publicKey) };
};
const key = pair();
const ORIGIN = 'builder.example/audit';

describe('checking the audit log against mailed checkpoints', () => {
  let dir: string;
  let lines: string[];
  /** Checkpoints "mailed" after 3, 7 and 10 entries, as the e-mail hook would carry them. */
  let mailed: FoundCheckpoint[];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-anchors-'));
    const log = new AuditLog(dir);
    mailed = [];
    for (let i = 0; i < 12; i++) {
      await log.append({
        type: 'request.accepted',
        actor: `user${i}`,
        build: `b${i}`,
        data: { origin: 'cli', verb: 'submit', raw: `submit stable pkg ${i}` },
      });
      if (i === 2 || i === 6 || i === 9) {
        const { size, head } = log.head();
        mailed.push({
          text: signCheckpoint({ origin: ORIGIN, size, head }, key),
          where: `message ${mailed.length + 1}`,
          date: `day ${size}`,
        });
      }
    }
    lines = fs.readFileSync(log.file, 'utf8').split('\n').slice(0, -1);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('agrees with the log that was mailed, counting the same checkpoint mailed twice once', () => {
    const r = compareWithAnchors(lines, [...mailed, { ...mailed[1]!, where: 'message 9' }], key.publicKey);
    expect(r).toMatchObject({ found: 4, checked: 4, distinct: 3, problems: [] });
    expect(r.newest?.checkpoint.size).toBe(10);
  });

  it('names the range of a rewrite that re-chained the rest, though the chain itself verifies', () => {
    const forged = rewriteAndRechain(lines, 5, (e) => {
      e.actor = 'mallory';
    });
    const file = path.join(dir, 'forged.log');
    fs.writeFileSync(file, forged.join('\n') + '\n');
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, entries: 12 });
    const r = compareWithAnchors(forged, mailed, key.publicKey);
    expect(r.problems).toEqual([
      `history rewritten: the mailed checkpoint of day 7 (message 2) says entry 6 has head ${sha256(lines[6]!)}, the local log has ${sha256(forged[6]!)}; ` +
        'the change is within entries 3..6 (the previous mailed checkpoint, at 3 entries (message 1 of day 3), still agrees); 1 later mailed checkpoint(s) disagree too',
    ]);
  });

  it('finds an edit of the very first entry, with no earlier checkpoint to narrow it down', () => {
    const forged = rewriteAndRechain(lines, 0, (e) => {
      e.data = { n: 99 };
    });
    expect(compareWithAnchors(forged, mailed, key.publicKey).problems).toEqual([
      expect.stringMatching(
        /^history rewritten: the mailed checkpoint of day 3 \(message 1\) says entry 2 has head [0-9a-f]{64}, the local log has [0-9a-f]{64}; the change is within entries 0\.\.2 \(no earlier mailed checkpoint agrees\); 2 later/,
      ),
    ]);
  });

  it('sees an inserted entry, and a truncation below the last mailed size', () => {
    const inserted = rewriteAndRechain([...lines.slice(0, 8), lines[8]!, ...lines.slice(8)], 8, () => {});
    expect(compareWithAnchors(inserted, mailed, key.publicKey).problems).toEqual([
      expect.stringMatching(
        /^history rewritten: .* says entry 9 has head .*; the change is within entries 7\.\.9 \(the previous mailed checkpoint, at 7 entries/,
      ),
    ]);
    expect(compareWithAnchors(lines.slice(0, 8), mailed, key.publicKey).problems).toEqual([
      'log truncated: mail saw 10 entries (the checkpoint of day 10 (message 3)), the local log has 8',
    ]);
    // Cut back and grown again past the mailed size: now a rewrite, no longer a truncation.
    const regrown = rewriteAndRechain([...lines.slice(0, 8), lines[11]!, lines[10]!, lines[9]!], 8, () => {});
    expect(compareWithAnchors(regrown, mailed, key.publicKey).problems).toEqual([
      expect.stringMatching(/^history rewritten: .*entries 7\.\.9/),
    ]);
  });

  it('reports checkpoints that another key signed, or that were altered, and two histories signed for one size', () => {
    const other = pair();
    const { size, head } = { size: 7, head: sha256('something else') };
    const found: FoundCheckpoint[] = [
      ...mailed,
      {
        text: signCheckpoint({ origin: ORIGIN, size: 12, head: sha256(lines[11]!) }, other),
        where: 'message 4',
        date: null,
      },
      { text: mailed[2]!.text.replace('\n10\n', '\n11\n'), where: 'message 5', date: null },
      { text: signCheckpoint({ origin: ORIGIN, size, head }, key), where: 'message 6', date: 'day 7b' },
    ];
    const r = compareWithAnchors(lines, found, key.publicKey);
    expect(r).toMatchObject({ found: 6, checked: 4, distinct: 4 });
    expect(r.problems).toEqual([
      `bad signature: the checkpoint in message 4 does not verify (no signature by the builder key for origin ${ORIGIN}); it was not made by this builder's key, or was altered`,
      `bad signature: the checkpoint in message 5 does not verify (no signature by the builder key for origin ${ORIGIN}); it was not made by this builder's key, or was altered`,
      expect.stringMatching(
        /^two histories signed: the checkpoints in message (2|6) of day 7b? and message (2|6) of day 7b? both cover 7 entries/,
      ),
      expect.stringMatching(/^history rewritten: the mailed checkpoint of day 7b \(message 6\) says entry 6 has head/),
    ]);
  });
});
