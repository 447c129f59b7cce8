import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon.js';
import { dependencyState } from '../../src/record/batch-deps.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { DirectoryQueue } from '../../src/queue/directory-queue.js';
import { newRequestId, type Request } from '../../src/queue/request.js';

/** A request of a batch waits for the ones it names in `after`, asked of the queue one by one. */
describe('dependencyState', () => {
  let dir: string;
  let queue: DirectoryQueue;
  const req = (pkg: string, after?: string[]): Request => ({
    v: 1,
    id: newRequestId(),
    pocket: 'stable',
    package: pkg,
    commit: 'a'.repeat(40),
    commit_spec: 'main',
    principal: 'alice',
    origin: 'ssh',
    time: new Date().toISOString(),
    ...(after ? { after } : {}),
  });
  const end = (r: Request, status: 'succeeded' | 'failed') => {
    const rec = new BuildRecord(dir, r.id);
    rec.begin(r);
    const now = new Date().toISOString();
    rec.finish({ ...r, status, started: now, finished: now, stages: [], outputs: [] });
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-batch-deps-'));
    queue = new DirectoryQueue(path.join(dir, 'queue'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('waits for a dependency a directory listing missed but the queue holds (a batch being queued)', () => {
    const lib = req('pb-lib');
    const prog = req('pb-prog', [lib.id]);
    queue.enqueue(lib);
    queue.enqueue(prog);
    // What a listing racing the two renames can return: the program without the library.
    const listed = new Set([prog.id]);
    expect(dependencyState(dir, prog, (id) => listed.has(id) || queue.holds(id))).toEqual({
      kind: 'wait',
      on: lib.id,
      reason: `waits for a request (${lib.id}) to be published`,
    });
    // Trusting the listing alone ends the program as if the library had vanished.
    expect(dependencyState(dir, prog, (id) => listed.has(id)).kind).toBe('failed');
  });

  it('is ready once the dependency succeeded, and fails when it failed or is gone', () => {
    const lib = req('pb-lib');
    const prog = req('pb-prog', [lib.id]);
    end(lib, 'succeeded');
    expect(dependencyState(dir, prog, () => false)).toEqual({ kind: 'ready' });
    const broken = req('pb-lib');
    end(broken, 'failed');
    expect(dependencyState(dir, req('pb-prog', [broken.id]), () => false)).toMatchObject({
      kind: 'failed',
      reason: `pb-lib (${broken.id}), which it build-depends on, ended failed, so it was not built`,
    });
    const gone = newRequestId();
    expect(dependencyState(dir, req('pb-prog', [gone]), () => false)).toMatchObject({
      kind: 'failed',
      reason: `a request (${gone}), which it build-depends on, is neither queued nor finished`,
    });
  });

  it('reads the result again when the dependency left the queue between the two looks', () => {
    const lib = req('pb-lib');
    const prog = req('pb-prog', [lib.id]);
    // Not queued any more when asked, because it ended just then: its result is there by now.
    const state = dependencyState(dir, prog, () => {
      end(lib, 'succeeded');
      return false;
    });
    expect(state).toEqual({ kind: 'ready' });
  });
});

/**
 * The daemon judges a batch from one listing, then claims from a newer one: a request that
 * shows up only in the newer listing must be judged again before it is started.
 */
describe('Daemon with a batch being queued', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('does not start a program whose library is still building, though the first listing missed the program', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-batch-daemon-'));
    const at = new Date().toISOString();
    const base = {
      v: 1 as const,
      pocket: 'stable',
      commit: 'a'.repeat(40),
      commit_spec: 'main',
      principal: 'alice',
      origin: 'ssh' as const,
      time: at,
    };
    const lib: Request = { ...base, id: newRequestId(), package: 'pb-lib' };
    const prog: Request = { ...base, id: newRequestId(), package: 'pb-prog', after: [lib.id] };
    let listings = 0;
    // The program is renamed in just after the daemon's first listing.
    class RacingQueue extends DirectoryQueue {
      override pending(): Request[] {
        const all = super.pending();
        return listings++ === 0 ? all.filter((r) => r.id !== prog.id) : all;
      }
    }
    const queue = new RacingQueue(path.join(dir, 'queue'));
    queue.enqueue(lib);
    queue.enqueue(prog);
    const started: string[] = [];
    const daemon = new Daemon({
      queue,
      slots: 2,
      rescanMs: 20,
      work: async (claim, signal) => {
        started.push(claim.request.id);
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        await claim.release();
      },
      dependencies: (r, isQueued) => dependencyState(dir, r, isQueued),
      log: () => {},
    });
    await daemon.start();
    try {
      for (let i = 0; i < 200 && !started.length; i++) await new Promise((r) => setTimeout(r, 10));
      const pumpsThen = listings;
      // Several more passes of the scheduler, each free to claim the program.
      for (let i = 0; i < 200 && listings < pumpsThen + 6; i++) await new Promise((r) => setTimeout(r, 10));
      expect(listings).toBeGreaterThanOrEqual(pumpsThen + 6);
      expect(started).toEqual([lib.id]);
    } finally {
      await daemon.close();
    }
  });
});
