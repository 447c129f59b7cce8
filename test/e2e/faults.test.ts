import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_POINTS } from '../../src/util/fault-point.js';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { privateAptOptions, processesUnder, runAs, tempDirForTestUser, writeExecutable } from '../helpers/env.js';

/**
 * The fault campaign (docs/faults.md): the daemon is SIGKILLed at a named point of a request's
 * life, restarted, and then the request must have ended exactly once, and the repository, the
 * pocket branch and tag, the build record, the provenance and the audit log must agree.
 *
 * CI runs a representative subset, one point per kind of state a kill can leave (a claim, a
 * half-made build, a publish with and without reprepro done, refs half moved, a result without
 * its audit entry, a hook cut short, a torn audit line); `npm run faults` runs every point.
 */
const CI_POINTS = [
  'queue:after-claim',
  'after:build',
  'publish:before-include',
  'publish:after-include',
  'refs:after-branch',
  'finish:after-result',
  'hooks:during',
  'audit:torn-write',
];
/** Killed from outside while the package's own build runs in the sandbox. */
const DURING_BUILD = 'during:build';
/**
 * Reached only on a builder host (daemon.publish false): several-hosts.test.ts kills there; and
 * only by a promotion's own steps: faults-promotion.test.ts kills there.
 */
const NOT_BY_A_BUILD = new Set(['handoff:after-journal', 'after:collect', 'after:attest']);
const POINTS =
  process.env.PB_FAULTS === 'all' ? [...FAULT_POINTS.filter((p) => !NOT_BY_A_BUILD.has(p)), DURING_BUILD] : CI_POINTS;
/**
 * Kills after which a record file is also cut to half its size, as a crash on a disk that
 * loses a write leaves it: the journal between the branch and the tag (what was published and
 * where the branch was is lost), and the result after its audit entry (what ended is lost).
 */
const CUTS: Array<[string, 'journal.json' | 'result.json']> = [
  ['refs:after-branch', 'journal.json'],
  ['finish:after-audit', 'result.json'],
];
const CASES: Array<{ point: string; cut: string; what: string; version: string }> = [
  ...POINTS.map((point, i) => ({ point, cut: '', what: point, version: `${i + 1}.0` })),
  ...CUTS.map(([point, cut], i) => ({
    point,
    cut,
    what: `${point}, cutting ${cut} short`,
    version: `${POINTS.length + i + 1}.0`,
  })),
];

const PKG = 'pb-faults';

describe('the daemon killed at each fault point, then restarted', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let seen: string;

  beforeAll(() => {
    b = new TestBuilder('faults', { pockets: { stable: {} }, claimStaleSeconds: 3 });
    seen = path.join(b.root, 'hooks-seen');
    // Writes its line at once, then takes a second: `hooks:during` kills the daemon inside it.
    writeExecutable(
      path.join(b.hooksDir, '10-record'),
      `#!/bin/sh\necho "EVENT $POCKETBUILD_EVENT $POCKETBUILD_ID" >> ${seen}\nsleep 1\n`,
    );
    repo = new PackageRepo(b.reposDir, PKG);
  });

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  const audit = () => b.auditEntries();
  const events = (id: string): string[] =>
    fs
      .readFileSync(seen, 'utf8')
      .split('\n')
      .filter((l) => l.endsWith(` ${id}`))
      .map((l) => l.split(' ')[1]!);

  it.each(CASES.map((c) => [c.what, c.version, c.point, c.cut]))(
    'at %s (version %s)',
    async (_what, version, point, cut) => {
      const commit = repo.commitVersion({ version, buildCommands: point === DURING_BUILD ? ['sleep 5'] : [] });
      let id: string;
      if (point === DURING_BUILD) {
        await b.startDaemon();
        id = b.submit('stable', PKG, commit);
        for (let i = 0; i < 1200 && !b.buildLog(id).includes('building as uid'); i++) await sleep(100);
        expect(b.buildLog(id)).toContain('building as uid');
        await b.killDaemon();
      } else {
        await b.startDaemon({ POCKETBUILD_FAULT: point });
        id = b.submit('stable', PKG, commit);
        await b.waitForDaemonExit();
      }
      // It died where it was told to, not of something else.
      expect(b.lastDaemonExit(), b.log()).toEqual({ code: null, signal: 'SIGKILL' });
      const work = path.join(b.stateDir, 'work');
      for (let i = 0; i < 100 && processesUnder(work).length; i++) await sleep(100);
      expect(processesUnder(work)).toEqual([]);
      if (cut) {
        const file = path.join(b.stateDir, 'builds', id, cut);
        fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
      }

      await b.startDaemon();
      const res = await b.waitFor(id);
      await b.stopDaemon();
      expect(res.status, b.buildLog(id)).toBe('succeeded');
      expect(res.version).toBe(version);
      if (cut) expect(b.buildLog(id)).toContain(`resume: ${id}'s ${cut} is damaged (`);

      // The repository, the branch and the tag say the same.
      expect(b.published('stable')).toEqual([`${PKG} ${version}`]);
      expect(b.git(PKG, ['rev-parse', 'refs/heads/stable'])).toBe(commit);
      expect(b.git(PKG, ['rev-parse', `refs/tags/stable/${version}`])).toBe(commit);

      // The audit log verifies and holds each fact about this request once.
      const verified = b.cli(['audit', 'verify']);
      expect(verified.stdout).toMatch(/^audit log OK: /);
      const mine = audit().filter((e) => e.build === id);
      const count = (type: string) => mine.filter((e) => e.type === type).length;
      expect(count('build.finished')).toBe(1);
      expect(count('publish')).toBe(1);
      expect(mine.filter((e) => e.type === 'ref.moved').map((e) => [e.data.ref, e.data.to])).toEqual([
        ['refs/heads/stable', commit],
        [`refs/tags/stable/${version}`, commit],
      ]);
      const finished = mine.find((e) => e.type === 'build.finished')!;
      expect(finished.data).toMatchObject({ status: 'succeeded', version });
      if (point === 'audit:torn-write') {
        const repaired = audit().filter((e) => e.type === 'audit.repaired');
        expect(repaired.length).toBe(1);
        expect(repaired[0]!.data.dropped_bytes).toBeGreaterThan(0);
      }

      // The record: every output listed with its sha256, and the provenance the audit log names.
      const record = path.join(b.stateDir, 'builds', id);
      for (const o of res.outputs) {
        const sum = spawnSync('sha256sum', [path.join(record, 'outputs', o.file)], { encoding: 'utf8' });
        expect(sum.stdout.split(' ')[0], o.file).toBe(o.sha256);
      }
      const deb = path.join(record, 'outputs', `${PKG}_${version}_all.deb`);
      expect(b.cli(['verify', deb]).stdout).toContain(`PASSED: ${deb}`);
      expect(fs.readdirSync(path.join(b.stateDir, 'work')).filter((n) => n.startsWith(id))).toEqual([]);
      expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.startsWith(id))).toEqual([]);

      // The end's hooks ran once, but a hook killed with its daemon runs again (at least once).
      expect(events(id).filter((e) => e === 'submitted')).toEqual(['submitted']);
      expect(events(id).filter((e) => e === 'succeeded')).toEqual(
        point === 'hooks:during' ? ['succeeded', 'succeeded'] : ['succeeded'],
      );

      // apt, trusting only the repository's key, updates and fetches the package.
      const aptDir = tempDirForTestUser('faults-apt');
      const opts = privateAptOptions(aptDir, [
        `deb [signed-by=${path.join(b.aptDir(), 'key.gpg')}] file:${b.aptDir()} stable main`,
      ]);
      runAs(['apt-get', ...opts, '-q', 'update'], { timeoutMs: 120_000 });
      runAs(['apt-get', ...opts, '-q', 'download', `${PKG}=${version}`], { cwd: aptDir, timeoutMs: 120_000 });
      expect(fs.existsSync(path.join(aptDir, `${PKG}_${version}_all.deb`))).toBe(true);
      runAs(['rm', '-rf', aptDir]);
    },
  );
});
