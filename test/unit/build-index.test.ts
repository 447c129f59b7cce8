import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildIndex } from '../../src/record/build-index.js';
import { BuildRecord, type BuildResult, type FinalStatus } from '../../src/record/build-record.js';
import { newRequestId, type Request } from '../../src/queue/request.js';

function request(pkg: string, pocket = 'stable', principal = 'alice'): Request {
  return {
    v: 1,
    id: newRequestId(),
    pocket,
    package: pkg,
    commit: 'c'.repeat(40),
    commit_spec: 'main',
    principal,
    origin: 'ssh',
    time: new Date().toISOString(),
  };
}

function result(req: Request, status: FinalStatus = 'succeeded'): BuildResult {
  return {
    id: req.id,
    pocket: req.pocket,
    package: req.package,
    commit: req.commit,
    principal: req.principal,
    status,
    ...(status === 'succeeded' ? { version: '1.0' } : { code: 'BuildFailed' as const, reason: 'it broke' }),
    started: req.time,
    finished: new Date().toISOString(),
    stages: [],
    outputs: [],
  };
}

describe('BuildIndex', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-index-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lists appended builds newest first, filters on every field, pages, and sees appends from other writers', () => {
    const writer = new BuildIndex(dir);
    const reader = new BuildIndex(dir);
    const reqs = [
      request('hello'),
      request('hello', 'dev'),
      request('jq', 'stable', 'bob'),
      request('hello', 'stable', 'bob'),
    ];
    writer.append(reqs[0]!, result(reqs[0]!));
    writer.append(reqs[1]!, result(reqs[1]!, 'failed'));
    expect(reader.query().items.map((e) => e.id)).toEqual([reqs[1]!.id, reqs[0]!.id]);
    writer.append(reqs[2]!, result(reqs[2]!));
    writer.append(reqs[3]!, result(reqs[3]!, 'denied'));
    expect(reader.query().total).toBe(4);
    expect(reader.query({ package: 'hello' }).items.map((e) => e.id)).toEqual([reqs[3]!.id, reqs[1]!.id, reqs[0]!.id]);
    expect(reader.query({ pocket: 'dev' }).items.map((e) => e.id)).toEqual([reqs[1]!.id]);
    expect(reader.query({ principal: 'bob', package: 'hello' }).items.map((e) => e.id)).toEqual([reqs[3]!.id]);
    expect(reader.query({ status: 'failed' }).items[0]).toMatchObject({ code: 'BuildFailed', reason: 'it broke' });
    expect(reader.query({}, 1, 2)).toMatchObject({ total: 4, items: [{ id: reqs[2]!.id }, { id: reqs[1]!.id }] });
    expect(reader.get(reqs[2]!.id)).toMatchObject({ package: 'jq', origin: 'ssh', version: '1.0' });
  });

  it('skips a torn line, keeps one entry per id, and starts over when the file is replaced', () => {
    const idx = new BuildIndex(dir);
    const a = request('a');
    const b = request('b');
    idx.append(a, result(a, 'failed'));
    fs.appendFileSync(idx.file, '{"id": "torn');
    expect(idx.query().total).toBe(1);
    fs.appendFileSync(idx.file, '\n');
    idx.append(a, result(a)); // the same build again (a repair racing an append): the last line wins
    idx.append(b, result(b));
    expect(idx.query().items.map((e) => [e.id, e.status])).toEqual([
      [b.id, 'succeeded'],
      [a.id, 'succeeded'],
    ]);
    fs.writeFileSync(idx.file, JSON.stringify(BuildIndex.entryOf(b, result(b, 'timeout'))) + '\n');
    expect(idx.query().items.map((e) => [e.id, e.status])).toEqual([[b.id, 'timeout']]);
  });

  it('repair adds the finished records it lacks, and only those', () => {
    const done = request('hello');
    const running = request('jq');
    for (const [r, finish] of [
      [done, true],
      [running, false],
    ] as const) {
      const rec = new BuildRecord(dir, r.id);
      rec.begin(r);
      if (finish) rec.finish(result(r));
    }
    const idx = new BuildIndex(dir);
    expect(idx.query().total).toBe(0);
    expect(idx.repair()).toBe(1);
    expect(idx.query().items.map((e) => e.id)).toEqual([done.id]);
    expect(idx.repair()).toBe(0);
    expect(new BuildIndex(dir).query().total).toBe(1);
  });
});
