import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { isRoot, testUser } from '../helpers/env.js';
import { exportedVersion } from '../../src/publish/exported-index.js';

function must(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

/** Take every free block of the file system `dir` is on; returns how to give them back. */
function fill(dir: string): () => void {
  const st = fs.statfsSync(dir);
  // Dot-named: the queue's scan ignores such files (writers' temporaries) instead of quarantining it.
  const filler = path.join(dir, `.filler-${process.pid}`);
  must(['fallocate', '-l', String(st.bavail * st.bsize), filler]);
  return () => fs.rmSync(filler, { force: true });
}

/**
 * The state directory's disk, the queue's and the builds' scratch disk (work_dir) fill up
 * (small tmpfs mounts of their own, so the host's disk is never touched): a submit is refused
 * with one line and queues nothing; a build whose end cannot be recorded, or whose source
 * cannot be exported, stays queued and ends once, published once, when space comes back; the
 * audit log verifies throughout.
 */
describe.skipIf(!isRoot())('a full disk', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  const mounts: string[] = [];
  const PKG = 'pb-disk';

  beforeAll(async () => {
    b = new TestBuilder('faults-disk', { pockets: { stable: {} } });
    const u = testUser();
    for (const [dir, size] of [
      [b.stateDir, '96m'],
      [path.join(b.root, 'queue'), '2m'],
      [path.join(b.root, 'work'), '8m'],
    ] as const) {
      fs.mkdirSync(dir, { recursive: true });
      must(['mount', '-t', 'tmpfs', '-o', `size=${size},mode=0755,uid=${u.uid},gid=${u.gid}`, 'pb-faults-disk', dir]);
      mounts.push(dir);
    }
    fs.appendFileSync(b.configFile, `work_dir: ${path.join(b.root, 'work')}\n`);
    repo = new PackageRepo(b.reposDir, PKG);
    await b.startDaemon();
    const first = b.submit('stable', PKG, repo.commitVersion({ version: '1.0' }));
    expect((await b.waitFor(first)).status, b.buildLog(first)).toBe('succeeded');
  });

  afterAll(async () => {
    await b?.stopDaemon();
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    repo?.cleanup();
    await b?.cleanup();
  });

  const finishedEntries = (id: string) =>
    fs
      .readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"type":"build.finished"') && l.includes(id));
  const queued = () => fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'));

  it('refuses a submit with one line and queues nothing', () => {
    const commit = repo.commitVersion({ version: '2.0' });
    const free = fill(path.join(b.root, 'queue'));
    try {
      const r = b.cli(['submit', 'stable', PKG, commit], true);
      expect(r.status).toBe(70);
      expect(r.stderr).toMatch(/^pocketbuild: the builder is out of disk space, so this was not done[^\n]*\n$/);
      expect(r.stderr).not.toContain(b.root);
      expect(queued()).toEqual([]);
    } finally {
      free();
    }
    expect(b.cli(['audit', 'verify']).stdout).toMatch(/^audit log OK: /);
  });

  it('keeps a build whose end cannot be recorded queued, and ends it once when space is back', async () => {
    const commit = repo.commitVersion({ version: '3.0', buildCommands: ['sleep 6'] });
    const id = b.submit('stable', PKG, commit);
    for (let i = 0; i < 1200 && !b.buildLog(id).includes('building as uid'); i++) await sleep(100);
    expect(b.buildLog(id)).toContain('building as uid');
    const free = fill(b.stateDir);
    try {
      for (let i = 0; i < 1200 && !b.log().includes(`build ${id}: DiskFull`); i++) await sleep(100);
      expect(b.log()).toMatch(new RegExp(`build ${id}: DiskFull: .*it stays queued and is tried again in 10 s`));
      expect(queued()).toEqual([`${id}.json`]);
      // What clients see (reprepro itself cannot open its database on a full disk).
      expect(exportedVersion(b.aptDir(), 'stable', PKG)).toBe('1.0');
    } finally {
      free();
    }
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    expect(b.published('stable')).toEqual([`${PKG} 3.0`]);
    expect(b.git(PKG, ['rev-parse', 'refs/heads/stable'])).toBe(commit);
    expect(b.cli(['audit', 'verify']).stdout).toMatch(/^audit log OK: /);
    expect(finishedEntries(id)).toHaveLength(1);
  });

  it('keeps a request whose scratch disk is full queued, not failed, and builds it once space is back', async () => {
    const commit = repo.commitVersion({ version: '4.0' });
    const free = fill(path.join(b.root, 'work'));
    let submitted: string | undefined;
    try {
      const id = (submitted = b.submit('stable', PKG, commit));
      for (let i = 0; i < 1200 && !b.log().includes(`build ${id}: DiskFull`); i++) await sleep(100);
      expect(b.log()).toMatch(new RegExp(`build ${id}: DiskFull: .*it stays queued and is tried again in 10 s`));
      expect(b.buildLog(id)).toMatch(/ENOSPC|no space left/i);
      expect(queued()).toEqual([`${id}.json`]);
      expect(fs.existsSync(path.join(b.stateDir, 'builds', id, 'result.json'))).toBe(false);
      expect(b.published('stable')).toEqual([`${PKG} 3.0`]);
    } finally {
      free();
    }
    const id = submitted!;
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    expect(b.published('stable')).toEqual([`${PKG} 4.0`]);
    expect(b.cli(['audit', 'verify']).stdout).toMatch(/^audit log OK: /);
    expect(finishedEntries(id)).toHaveLength(1);
  });
});
