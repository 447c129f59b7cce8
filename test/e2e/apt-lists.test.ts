import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';

/**
 * The mirror's package lists are fetched again only when older than
 * archive.lists_max_age_seconds; the pocket's own repository is read afresh for every build;
 * a build whose dependencies cannot be met with kept lists is tried once with fresh ones.
 */
describe("the mirror's package lists", () => {
  let b: TestBuilder;
  const repos: PackageRepo[] = [];

  beforeAll(async () => {
    b = new TestBuilder('apt-lists', { pockets: { dev: {} } });
    await b.startDaemon();
  });
  afterAll(async () => {
    for (const r of repos) r.cleanup();
    await b?.cleanup();
  });

  const build = async (name: string, p: Parameters<PackageRepo['commitVersion']>[0]) => {
    const repo = new PackageRepo(b.reposDir, name);
    repos.push(repo);
    repo.commitVersion(p);
    const id = b.submit('dev', name, 'main');
    return { id, result: await b.waitFor(id, 600_000), log: () => b.buildLog(id) };
  };

  it('are kept between builds, while a package just published into the pocket is seen at once', async () => {
    const lib = await build('pb-lists-lib', { version: '1.0' });
    expect(lib.result.status, lib.log()).toBe('succeeded');
    // Build-depends on what the first build published: the pocket's own list is fresh.
    const user = await build('pb-lists-user', { version: '1.0', buildDepends: 'pb-lists-lib (>= 1.0)' });
    expect(user.result.status, user.log()).toBe('succeeded');
    expect(user.log()).toMatch(
      /build-deps: the mirror's package lists are \d+ min old \(fetched again after 60\); updating the pocket's own/,
    );
    expect(user.log()).toMatch(/pb-lists-lib 1\.0 all sha256:/);
    // The daemon's terminal follows each build stage by stage.
    for (const stage of ['validate', 'export', 'deps', 'build', 'publish'])
      expect(b.log()).toMatch(new RegExp(`build ${user.id}: ${stage} done in [\\d.]+ s`));
  });

  it('are fetched again, once, when dependencies cannot be met with the kept ones', async () => {
    const bad = await build('pb-lists-bad', { version: '1.0', buildDepends: 'pb-no-such-package' });
    expect(bad.result.status).toBe('failed');
    expect(bad.result.code).toBe('BuildDepsUnsatisfiable');
    const log = bad.log();
    expect(log).toContain(
      'build-deps: BuildDepsUnsatisfiable with package lists kept from earlier; fetching them again',
    );
    expect(log.indexOf('build-deps: updating package lists')).toBeGreaterThan(log.indexOf('fetching them again'));
  });
});
