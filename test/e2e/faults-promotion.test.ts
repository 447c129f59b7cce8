import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_POINTS } from '../../src/util/fault-point.js';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { writeExecutable } from '../helpers/env.js';

/**
 * The fault campaign for promotions (docs/promotion.md, docs/faults.md): the daemon is
 * SIGKILLed at each point a promotion passes, restarted, and the promotion must end exactly
 * once with the target suite, its branch and tag, the record and the audit log agreeing, and
 * the promoted .deb the very file the build made. Each case promotes the one build in `dev`
 * into a pocket of its own, so no case needs another build.
 *
 * CI runs one point per kind of state a promotion's kill leaves; `npm run faults` runs all.
 */
/** The points only a build's own steps, or a builder host, reach: a promotion passes every other one. */
const BUILD_ONLY = new Set([
  'after:export',
  'after:base',
  'after:deps',
  'after:build',
  'after:check',
  'after:provenance',
  'handoff:after-journal',
]);
const ALL = FAULT_POINTS.filter((p) => !BUILD_ONLY.has(p));
const CI = ['after:collect', 'publish:before-include', 'publish:after-include', 'finish:after-result'];
const POINTS = process.env.PB_FAULTS === 'all' ? ALL : CI;
/** A kill between the branch and the tag with the journal then cut in half, as a lost write leaves it. */
const CASES = [
  ...POINTS.map((point, i) => ({ point, cut: false, pocket: `f${i + 1}` })),
  { point: 'refs:after-branch', cut: true, pocket: `f${POINTS.length + 1}` },
];
const PKG = 'pb-faults-promote';
const VERSION = '1.0';

describe('a promotion whose daemon is killed at each fault point, then restarted', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let seen: string;
  let commit: string;
  let built: { id: string; debSha256: string };

  beforeAll(async () => {
    const targets = Object.fromEntries(CASES.map((c) => [c.pocket, { promote_from: ['dev'] }]));
    b = new TestBuilder('faults-promotion', { pockets: { dev: {}, ...targets }, claimStaleSeconds: 3 });
    seen = path.join(b.root, 'hooks-seen');
    // Writes its line at once, then takes a second: `hooks:during` kills the daemon inside it.
    writeExecutable(
      path.join(b.hooksDir, '10-record'),
      `#!/bin/sh\necho "EVENT $POCKETBUILD_EVENT $POCKETBUILD_ID" >> ${seen}\nsleep 1\n`,
    );
    repo = new PackageRepo(b.reposDir, PKG);
    commit = repo.commitVersion({ version: VERSION });
    await b.startDaemon();
    const id = b.submit('dev', PKG, commit);
    const r = await b.waitFor(id);
    expect(r.status, b.buildLog(id)).toBe('succeeded');
    await b.stopDaemon();
    built = { id, debSha256: r.outputs.find((o) => o.file.endsWith('.deb'))!.sha256 };
  }, 20 * 60_000);

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  const events = (id: string): string[] =>
    fs
      .readFileSync(seen, 'utf8')
      .split('\n')
      .filter((l) => l.endsWith(` ${id}`))
      .map((l) => l.split(' ')[1]!);

  it.each(
    CASES.map((c) => [c.point + (c.cut ? ', cutting journal.json short' : ''), c.point, c.cut, c.pocket] as const),
  )(
    'at %s',
    async (_what, point, cut, pocket) => {
      await b.startDaemon({ POCKETBUILD_FAULT: point });
      const id = b.cli(['promote', PKG, 'dev', pocket]).stdout.trim();
      await b.waitForDaemonExit();
      expect(b.lastDaemonExit(), b.log()).toEqual({ code: null, signal: 'SIGKILL' });
      if (cut) {
        const file = path.join(b.stateDir, 'builds', id, 'journal.json');
        fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
      }

      await b.startDaemon();
      const res = await b.waitFor(id);
      await b.stopDaemon();
      expect(res.status, b.buildLog(id)).toBe('succeeded');
      expect(res.version).toBe(VERSION);

      // The suite, the branch and the tag say the same; the .deb is the very file dev serves.
      expect(b.published(pocket)).toEqual([`${PKG} ${VERSION}`]);
      expect(b.git(PKG, ['rev-parse', `refs/heads/${pocket}`])).toBe(commit);
      expect(b.git(PKG, ['rev-parse', `refs/tags/${pocket}/${VERSION}`])).toBe(commit);
      const packages = fs.readFileSync(
        path.join(b.aptDir(), 'dists', pocket, 'main', 'binary-amd64', 'Packages'),
        'utf8',
      );
      expect(/^SHA256: (\S+)$/m.exec(packages)?.[1]).toBe(built.debSha256);
      const pool = path.join(b.aptDir(), /^Filename: (\S+)$/m.exec(packages)![1]!);
      expect(createHash('sha256').update(fs.readFileSync(pool)).digest('hex')).toBe(built.debSha256);

      // The audit log verifies and holds each fact about this promotion once.
      expect(b.cli(['audit', 'verify']).stdout).toMatch(/^audit log OK: /);
      const mine = b.auditEntries().filter((e) => e.build === id);
      const count = (type: string) => mine.filter((e) => e.type === type).length;
      expect(count('build.finished')).toBe(1);
      expect(count('publish')).toBe(1);
      expect(mine.filter((e) => e.type === 'ref.moved').map((e) => [e.data.ref, e.data.to])).toEqual([
        [`refs/heads/${pocket}`, commit],
        [`refs/tags/${pocket}/${VERSION}`, commit],
      ]);

      // verify shows the build and this promotion, signed and naming the build's provenance.
      const deb = path.join(b.stateDir, 'builds', id, 'outputs', `${PKG}_${VERSION}_all.deb`);
      const v = b.cli(['verify', deb]).stdout;
      expect(v).toContain(`  build:       ${built.id}: ${PKG} ${VERSION} -> pocket dev`);
      expect(v).toContain(`(request ${id}; `);
      expect(v).not.toContain('NOT VERIFIED');

      // The end's hooks ran once (a hook killed with its daemon runs again), and nothing is left queued.
      expect(events(id).filter((e) => e === 'promoted')).toEqual(
        point === 'hooks:during' ? ['promoted', 'promoted'] : ['promoted'],
      );
      expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.startsWith(id))).toEqual([]);
    },
    5 * 60_000,
  );
});
