import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { runAs, writeExecutable } from '../helpers/env.js';

/**
 * A tool the publish depends on fails (found first on PATH, as a broken upgrade would leave
 * it): the build ends `failed` with code PublishFailed, and nothing of it is published: the
 * repository's database, its signed indices and the pocket branch are as before, so the same
 * commit publishes once the tool works again.
 */
describe('a failing reprepro or gpg publishes nothing', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let shims: string;
  const PKG = 'pb-tools';

  beforeAll(async () => {
    b = new TestBuilder('faults-tools', { pockets: { stable: {} } });
    repo = new PackageRepo(b.reposDir, PKG);
    shims = path.join(b.root, 'shims');
    runAs(['mkdir', '-p', shims]);
    await b.startDaemon();
    const first = b.submit('stable', PKG, repo.commitVersion({ version: '1.0' }));
    expect((await b.waitFor(first)).status, b.buildLog(first)).toBe('succeeded');
    await b.stopDaemon();
  });

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  const shim = (name: string, body: string) => writeExecutable(path.join(shims, name), body);
  /** What the signed index says the suite holds: the SHA256 lines of its Packages and Sources (a re-export re-signs with a new date). */
  const indices = () =>
    fs
      .readFileSync(path.join(b.aptDir(), 'dists', 'stable', 'InRelease'), 'utf8')
      .split('\n')
      .filter((l) => / main\/(binary-[^/]+\/Packages|source\/Sources)$/.test(l));

  it.each([
    [
      // It does its work, then fails: the database holds the new version when it exits.
      'reprepro',
      '#!/bin/sh\n/usr/bin/reprepro "$@"; rc=$?\nfor a in "$@"; do [ "$a" = include ] && { echo "ERROR: reprepro shim fails after including" >&2; exit 1; }; done\nexit $rc\n',
      '2.0',
    ],
    [
      // reprepro has written its database when the signer (its hook runs gpg) fails.
      'gpg',
      '#!/bin/sh\nfor a in "$@"; do case "$a" in --clearsign|--detach-sign|-s|--sign) echo "gpg: signing failed: shim" >&2; exit 2;; esac; done\nexec /usr/bin/gpg "$@"\n',
      '2.1',
    ],
  ])('%s fails while publishing', async (tool, body, version) => {
    const before = indices();
    expect(before.length).toBeGreaterThan(1);
    const branch = b.git(PKG, ['rev-parse', 'refs/heads/stable']);
    const published = b.published('stable');
    shim(tool, body);
    const commit = repo.commitVersion({ version });
    try {
      await b.startDaemon({ PATH: `${shims}:${process.env.PATH ?? '/usr/bin:/bin'}` });
      const id = b.submit('stable', PKG, commit);
      const res = await b.waitFor(id);
      expect(res.status, b.buildLog(id)).toBe('failed');
      expect(res.code).toBe('PublishFailed');
      expect(res.reason).toMatch(
        tool === 'gpg'
          ? /signing failed/
          : /^reprepro include stable \S+\.changes failed: .*shim fails after including/,
      );
      expect(res.reason).not.toContain(b.root);
      expect(b.buildLog(id)).toContain('publish: the repository database was put back as it was before this publish');
    } finally {
      await b.stopDaemon();
      runAs(['rm', '-f', path.join(shims, tool)]);
    }
    expect(b.published('stable')).toEqual(published);
    expect(indices()).toEqual(before);
    expect(b.git(PKG, ['rev-parse', 'refs/heads/stable'])).toBe(branch);
    expect(fs.existsSync(path.join(b.aptDir(), 'db.before-publish'))).toBe(false);
    expect(b.cli(['audit', 'verify']).stdout).toMatch(/^audit log OK: /);

    // The tool works again: the same commit publishes.
    await b.startDaemon();
    const again = b.submit('stable', PKG, commit);
    const res = await b.waitFor(again);
    await b.stopDaemon();
    expect(res.status, b.buildLog(again)).toBe('succeeded');
    expect(b.published('stable')).toEqual([`${PKG} ${version}`]);
  });
});
