import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClaimTakenOver, DirectoryQueue } from '../../src/queue/directory-queue.js';
import { ID_RE, newRequestId, parseRequest, serializeRequest, type Request } from '../../src/queue/request.js';

const COMMIT = 'a'.repeat(40);

function req(pkg: string, pocket = 'stable', id = newRequestId()): Request {
  return {
    v: 1,
    id,
    pocket,
    package: pkg,
    commit: COMMIT,
    commit_spec: 'main',
    principal: 'alice',
    origin: 'cli',
    time: new Date().toISOString(),
  };
}

describe('request ids and files', () => {
  it('makes ids that match the grammar and sort in creation order, even within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(ID_RE);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('round-trips and refuses malformed requests with the reason', () => {
    const r = req('hello');
    expect(parseRequest(serializeRequest(r))).toEqual(r);
    expect(() => parseRequest('{')).toThrow(/not JSON/);
    expect(() => parseRequest(JSON.stringify({ ...r, extra: 1 }))).toThrow('unknown field "extra"');
    expect(() => parseRequest(JSON.stringify({ ...r, pocket: 'Prod' }))).toThrow(/invalid pocket "Prod"/);
    expect(() => parseRequest(JSON.stringify({ ...r, commit: 'abc' }))).toThrow(/invalid commit/);
    expect(() => parseRequest(JSON.stringify({ ...r, package: '../etc' }))).toThrow(/invalid package/);
  });

  it('round-trips a promotion and refuses a malformed one', () => {
    const r = { ...req('hello'), promote: { from: 'dev', version: '1:2.0-1', build: newRequestId() } };
    expect(parseRequest(serializeRequest(r))).toEqual(r);
    const bad = (promote: unknown) => () => parseRequest(JSON.stringify({ ...r, promote }));
    expect(bad({ from: 'dev', version: '1.0' })).toThrow('field "promote" must be {from, version, build}');
    expect(bad({ ...r.promote, extra: 1 })).toThrow('field "promote" must be {from, version, build}');
    expect(bad({ ...r.promote, from: '../x' })).toThrow(/invalid pocket/);
    expect(bad({ ...r.promote, version: 'v1' })).toThrow(/invalid version/);
    expect(bad({ ...r.promote, build: 1 })).toThrow('field "promote.build" must be a string');
  });
});

describe('DirectoryQueue', () => {
  let dir: string;
  let quarantined: string[];
  let q: DirectoryQueue;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-queue-'));
    quarantined = [];
    q = new DirectoryQueue(dir, { staleMs: 2000, onQuarantine: (f, why) => quarantined.push(`${f}: ${why}`) });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lists cancels asked for pending requests; drops markers whose request is gone; leaves markers being written alone', async () => {
    const waiting = req('hello');
    const gone = req('other');
    q.enqueue(waiting);
    q.requestCancel(waiting.id, 'alice');
    q.requestCancel(gone.id, 'bob'); // finished as the cancel came
    const writing = path.join(dir, 'cancel', `.tmp-${waiting.id}-1-abc`);
    fs.writeFileSync(writing, 'carol\n');
    expect(q.cancelsRequested()).toEqual(new Map([[waiting.id, 'alice']]));
    expect(fs.readdirSync(path.join(dir, 'cancel')).sort()).toEqual([path.basename(writing), waiting.id].sort());
    // Claimed out of turn (a cancelled request is ended at once), finishing clears its marker.
    const claim = await q.claim(waiting.id);
    expect(claim?.request).toEqual(waiting);
    await claim!.finish();
    expect(q.cancelsRequested()).toEqual(new Map());
    expect(await q.claim(waiting.id)).toBeNull();
  });

  it('hands a built request back with a marker the next claim of it sees, and drops the marker when it ends', async () => {
    const r = req('hello');
    const gone = req('other');
    q.enqueue(r);
    const first = (await q.claimNext())!;
    expect(first.request.id).toBe(r.id);
    await first.handOff('host-a');
    expect(q.builtIds()).toEqual(new Set([r.id]));
    expect(fs.readFileSync(path.join(dir, 'built', r.id), 'utf8')).toBe('host-a\n');
    // Still queued and claimable (by the publishing daemon), not finished.
    expect(q.pending().map((x) => x.id)).toEqual([r.id]);
    const second = (await q.claim(r.id))!;
    expect(second).not.toBeNull();
    await second.finish();
    expect(q.builtIds()).toEqual(new Set());
    expect(fs.readdirSync(path.join(dir, 'built'))).toEqual([]);
    // A marker whose request is gone (its end removed the request, then died) is dropped on sight.
    q.markBuilt(gone.id, 'host-b');
    expect(q.builtIds()).toEqual(new Set());
    expect(fs.readdirSync(path.join(dir, 'built'))).toEqual([]);
  });

  it('enqueues atomically: one complete file, no temp file left', () => {
    const r = req('hello');
    q.enqueue(r);
    expect(fs.readdirSync(dir).sort()).toEqual([`${r.id}.json`, 'built', 'cancel', 'quarantine']);
    expect(q.pending()).toEqual([r]);
  });

  it('builds one request of a package at a time, even when an older id lands after a newer one was claimed', async () => {
    const older = req('pa');
    const newer = req('pa');
    expect(older.id < newer.id).toBe(true);
    q.enqueue(newer); // two submits raced: the one with the larger id landed first
    const c1 = await q.claimNext();
    expect(c1?.request.id).toBe(newer.id);
    q.enqueue(older);
    expect(await q.claimNext()).toBeNull();
    // Another daemon on the same directory sees the same.
    expect(await new DirectoryQueue(dir).claimNext()).toBeNull();
    await c1!.finish();
    const c2 = await q.claimNext();
    expect(c2?.request.id).toBe(older.id);
    await c2!.finish();
  });

  it('keeps each (pocket, package) in submission order while other packages overtake', async () => {
    const a1 = req('pa');
    const a2 = req('pa');
    const b1 = req('pb');
    const a3 = req('pa', 'dev');
    [a1, a2, b1, a3].forEach((r) => q.enqueue(r));
    const c1 = await q.claimNext();
    expect(c1?.request.id).toBe(a1.id);
    // a2 must wait for a1; b1 and a3 (another pocket) may go.
    const c2 = await q.claimNext();
    expect(c2?.request.id).toBe(b1.id);
    const c3 = await q.claimNext();
    expect(c3?.request.id).toBe(a3.id);
    expect(await q.claimNext()).toBeNull();
    await c1!.finish();
    const c4 = await q.claimNext();
    expect(c4?.request.id).toBe(a2.id);
    for (const c of [c2, c3, c4]) await c!.finish();
    expect(q.pending()).toEqual([]);
  });

  it('never lets two claimers (two daemons on one directory) hold the same request', async () => {
    const other = new DirectoryQueue(dir, { staleMs: 2000 });
    const reqs = Array.from({ length: 20 }, (_, i) => req(`p${i}`));
    reqs.forEach((r) => q.enqueue(r));
    const claims = await Promise.all([...Array(20)].flatMap(() => [q.claimNext(), other.claimNext()]));
    const ids = claims.filter((c) => c).map((c) => c!.request.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThan(0);
    for (const c of claims) await c?.release();
  });

  it('takes over a claim whose holder died once it is stale', async () => {
    const r = req('hello');
    q.enqueue(r);
    // A dead daemon's claim: the lock directory exists and nobody refreshes it.
    fs.mkdirSync(path.join(dir, `${r.id}.json.lock`));
    expect(await q.claimNext()).toBeNull();
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(path.join(dir, `${r.id}.json.lock`), old, old);
    const c = await q.claimNext();
    expect(c?.request.id).toBe(r.id);
    await c!.finish();
  });

  it('tells a live holder whose claim looked stale to another daemon that it lost it (ClaimTakenOver)', async () => {
    const r = req('hello');
    q.enqueue(r);
    const first = (await q.claimNext())!;
    // The holder stalled (a frozen process, a slow network file system): its lock looks stale.
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(path.join(dir, `${r.id}.json.lock`), old, old);
    const other = new DirectoryQueue(dir, { staleMs: 2000 });
    const second = (await other.claimNext())!;
    expect(second.request.id).toBe(r.id);
    // The first holder learns it at its next refresh of the lock.
    await new Promise<void>((resolve) => first.lost.addEventListener('abort', () => resolve(), { once: true }));
    expect(first.lost.reason).toBeInstanceOf(ClaimTakenOver);
    await second.finish();
  });

  it('moves foreign and malformed files to quarantine with the reason and carries on', () => {
    const good = req('hello');
    q.enqueue(good);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hi');
    const bad = newRequestId();
    fs.writeFileSync(path.join(dir, `${bad}.json`), '{"v":1,"id":"');
    const mismatched = req('px');
    fs.writeFileSync(path.join(dir, `${newRequestId()}.json`), serializeRequest(mismatched));
    expect(q.pending()).toEqual([good]);
    expect(quarantined).toHaveLength(3);
    expect(quarantined.find((l) => l.startsWith('notes.txt'))).toBe(
      'notes.txt: not a request file (expected <id>.json)',
    );
    expect(quarantined.find((l) => l.startsWith(bad))).toMatch(/not JSON/);
    expect(quarantined.some((l) => l.includes('does not match the file name'))).toBe(true);
    const q2 = fs.readdirSync(path.join(dir, 'quarantine'));
    expect(q2.filter((n) => n.endsWith('.reason'))).toHaveLength(3);
  });

  it("ignores writers' temp files", () => {
    fs.writeFileSync(path.join(dir, '.tmp-whatever'), 'partial');
    expect(q.pending()).toEqual([]);
    expect(quarantined).toEqual([]);
  });

  it('gives a new request an id after every waiting one, even when the clock stepped back', async () => {
    const q = new DirectoryQueue(dir);
    q.ensureDirs();
    // Made by a host whose clock ran an hour ahead, or before this one's clock was set back.
    const ahead = newRequestId(Date.now() + 3600_000);
    q.enqueue(req('pkg', 'stable', ahead));
    const next = q.newId();
    expect(next > ahead).toBe(true);
    expect(next).toMatch(ID_RE);
    q.enqueue(req('pkg', 'stable', next));
    expect(q.pending().map((r) => r.id)).toEqual([ahead, next]);
    // Two processes (two copies of the module, each with its own memory of its last id) making
    // an id after the same newest one in the same millisecond get two ids.
    const copy = '../../src/queue/request.js?another-process';
    const other = (await import(/* @vite-ignore */ copy)) as { newRequestId: typeof newRequestId };
    expect(other.newRequestId).not.toBe(newRequestId);
    const now = Date.now() + 7200_000;
    for (let i = 0; i < 50; i++) {
      const newest = newRequestId(now + i * 1000);
      expect(other.newRequestId(now, newest)).not.toBe(newRequestId(now, newest));
    }
    // One process never goes back either, whatever its clock says.
    expect(newRequestId(Date.now() - 60_000) > next).toBe(true);
  });
});
