import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptInRoot } from '../helpers/apt-in-root.js';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';

/**
 * One instance, pockets of two Debian releases (docs/releases.md): `stable` builds for bookworm,
 * `next` for trixie. Each build runs on its release's base with its release's build-dependencies;
 * a machine of each release installs its pocket's build; a version already published for one
 * release is refused for the other.
 */
describe('a Debian release per pocket', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  const PKG = 'pb-release';
  const ids: Record<string, string> = {};
  let bookwormCommit = '';

  beforeAll(async () => {
    b = new TestBuilder('releases', { pockets: { stable: {}, next: { distribution: 'trixie' } } });
    repo = new PackageRepo(b.reposDir, PKG);
    await b.startDaemon();
    bookwormCommit = repo.commitVersion({ version: '1.0~deb12u1', greeting: 'built for bookworm' });
    ids.stable = b.submit('stable', PKG, bookwormCommit);
    const trixie = repo.commitVersion({ version: '1.0~deb13u1', greeting: 'built for trixie' });
    ids.next = b.submit('next', PKG, trixie);
    for (const pocket of ['stable', 'next']) {
      const r = await b.waitFor(ids[pocket]!);
      expect(r.status, b.buildLog(ids[pocket]!)).toBe('succeeded');
    }
  }, 30 * 60_000);

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  /** The versions of the installed build-dependencies a build's .buildinfo records. */
  const installed = (id: string, pkg: string): string => {
    const dir = path.join(b.stateDir, 'builds', id, 'outputs');
    const info = fs.readdirSync(dir).find((f) => f.endsWith('.buildinfo'))!;
    const text = fs.readFileSync(path.join(dir, info), 'utf8');
    return new RegExp(`\\b${pkg} \\(= ([^)]+)\\)`).exec(text)?.[1] ?? `(no ${pkg} in ${info})`;
  };

  it("builds each pocket on its own release's base and build-dependencies", () => {
    expect(b.buildLog(ids.stable!)).toMatch(/^base: bookworm, sha256 [0-9a-f]{64}$/m);
    expect(b.buildLog(ids.next!)).toMatch(/^base: trixie, sha256 [0-9a-f]{64}$/m);
    // base-files is Debian 12 in a bookworm root and 13 in a trixie one.
    expect(installed(ids.stable!, 'base-files')).toMatch(/^12\./);
    expect(installed(ids.next!, 'base-files')).toMatch(/^13\./);
    const statement = (id: string) =>
      JSON.parse(
        Buffer.from(
          JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', id, 'provenance.intoto.jsonl'), 'utf8')).payload,
          'base64',
        ).toString('utf8'),
      ) as unknown;
    // The signed provenance names the base by release and digest.
    expect(JSON.stringify(statement(ids.next!))).toContain('"uri":"pocketbuild:base/trixie"');
    expect(JSON.stringify(statement(ids.stable!))).toContain('"uri":"pocketbuild:base/bookworm"');
    expect(b.published('stable')).toEqual([`${PKG} 1.0~deb12u1`]);
    expect(b.published('next')).toEqual([`${PKG} 1.0~deb13u1`]);
    const release = fs.readFileSync(path.join(b.aptDir(), 'dists', 'next', 'Release'), 'utf8');
    expect(release).toMatch(/^Description: pocketbuild pocket next, built for Debian trixie$/m);
  });

  it('a bookworm machine and a trixie machine each install their pocket’s build', () => {
    for (const [release, pocket, greeting] of [
      ['bookworm', 'stable', 'built for bookworm'],
      ['trixie', 'next', 'built for trixie'],
    ] as const) {
      const r = aptInRoot(release, b.aptDir(), pocket, [
        `apt-get -q -y install ${PKG}`,
        'echo "RELEASE: $(cut -d. -f1 /etc/debian_version)"',
        `echo "SAYS: $(${PKG})"`,
      ]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`RELEASE: ${release === 'bookworm' ? 12 : 13}`);
      expect(r.stdout).toContain(`SAYS: ${greeting}`);
    }
  });

  it('refuses a version already published for the other release, and changes nothing', async () => {
    const before = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').split('\n').length;
    const id = b.submit('next', PKG, bookwormCommit);
    const r = await b.waitFor(id);
    expect(r.status).toBe('denied');
    expect(r.code).toBe('VersionOfOtherRelease');
    expect(r.reason).toContain(`${PKG} 1.0~deb12u1 is already published for bookworm by pocket stable`);
    expect(b.published('next')).toEqual([`${PKG} 1.0~deb13u1`]);
    expect(b.published('stable')).toEqual([`${PKG} 1.0~deb12u1`]);
    expect(fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').split('\n').length).toBeGreaterThan(before);
    expect(b.cli(['audit', 'verify']).status).toBe(0);
  });
});
