import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, sha256, ZERO_HASH } from '../../src/record/audit-log.js';
import { verifyAuditLog } from '../../src/record/audit-verify.js';

describe('audit log', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-audit-'));
    file = path.join(dir, 'audit.log');
    const log = new AuditLog(dir);
    for (let i = 0; i < 8; i++)
      await log.append({
        type: 'request.accepted',
        actor: `user${i}`,
        build: `b${i}`,
        data: { origin: 'ssh', verb: 'submit', raw: `submit stable pkg ${i}`, transport: 'openssh' },
      });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const lines = () => fs.readFileSync(file, 'utf8').split('\n').slice(0, -1);
  const write = (ls: string[]) => fs.writeFileSync(file, ls.join('\n') + '\n');

  it("chains canonical lines: seq counts from 0, prev is the previous line's sha256", () => {
    const ls = lines();
    expect(ls).toHaveLength(8);
    ls.forEach((l, i) => {
      const e = JSON.parse(l);
      expect(e.seq).toBe(i);
      expect(e.prev).toBe(i === 0 ? ZERO_HASH : sha256(ls[i - 1]!));
    });
    expect(verifyAuditLog(file)).toEqual({ ok: true, entries: 8, head: sha256(ls[7]!) });
  });

  it('stays a valid chain when several writers (daemons, SSH sessions) append at once', async () => {
    const writers = [...Array(5)].map(() => new AuditLog(dir));
    await Promise.all(
      writers.flatMap((w, k) =>
        [...Array(10)].map((_, i) =>
          w.append({
            type: 'hook',
            actor: 'daemon',
            data: { event: 'started', hook: `h${k}`, ok: true, how: `run ${i}` },
          }),
        ),
      ),
    );
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, entries: 58 });
  });

  it('names the entry when one is edited, even if the edit keeps canonical form', () => {
    const ls = lines();
    ls[3] = ls[3]!.replace('"actor":"user3"', '"actor":"userX"');
    write(ls);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 5, seq: 4 });
    expect((verifyAuditLog(file) as { problem: string }).problem).toMatch(/prev does not match/);
  });

  it('names the entry when one is re-serialised', () => {
    const ls = lines();
    ls[2] = JSON.stringify(JSON.parse(ls[2]!), null, 1).replace(/\n/g, '');
    write(ls);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 3, seq: 2 });
  });

  it('names the entry after a deletion, an insertion, and a reordering', () => {
    const orig = lines();
    write([...orig.slice(0, 4), ...orig.slice(5)]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 5, seq: 5 });
    write([...orig.slice(0, 4), orig[2]!, ...orig.slice(4)]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 5, seq: 2 });
    write([...orig.slice(0, 2), orig[3]!, orig[2]!, ...orig.slice(4)]);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 3, seq: 3 });
  });

  it('names a torn last line', () => {
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, -10));
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 8 });
  });

  it('cuts a torn last line at the next append, logs what it cut, and the chain verifies', async () => {
    const whole = fs.readFileSync(file);
    const torn = '{"v":1,"seq":8,"ts":"2026-';
    fs.appendFileSync(file, torn);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 9, problem: expect.stringContaining('torn') });
    const log = new AuditLog(dir);
    expect(log.head()).toEqual({ size: 8, head: sha256(lines()[7]!) });
    await log.append({ type: 'cancel', actor: 'alice', build: 'b3', data: { state: 'queued' } });
    const ls = lines();
    expect(ls).toHaveLength(10);
    expect(fs.readFileSync(file).subarray(0, whole.length).equals(whole)).toBe(true);
    expect(JSON.parse(ls[8]!)).toMatchObject({
      seq: 8,
      type: 'audit.repaired',
      data: { dropped_bytes: torn.length, dropped_sha256: sha256(torn) },
    });
    expect(JSON.parse(ls[9]!)).toMatchObject({ seq: 9, type: 'cancel' });
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, entries: 10 });
  });

  it('cuts a torn first line too: the chain starts again from zero', async () => {
    fs.writeFileSync(file, '{"v":1,"se');
    await new AuditLog(dir).append({ type: 'cancel', actor: 'alice', build: 'b1', data: { state: 'queued' } });
    expect(lines().map((l) => JSON.parse(l).type)).toEqual(['audit.repaired', 'cancel']);
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, entries: 2 });
  });

  it("lists one build's entries, oldest first, and nothing of a build whose id another contains", async () => {
    const log = new AuditLog(dir);
    await log.append({ type: 'cancel', actor: 'alice', build: 'b3', data: { state: 'queued' } });
    await log.append({ type: 'cancel', actor: 'alice', build: 'b33', data: { state: 'queued' } });
    expect(log.entriesOf('b3').map((e) => [e.seq, e.type])).toEqual([
      [3, 'request.accepted'],
      [8, 'cancel'],
    ]);
    expect(log.entriesOf('nope')).toEqual([]);
  });
});
