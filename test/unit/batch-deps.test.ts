import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
