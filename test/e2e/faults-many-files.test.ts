import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';

/**
 * A build that leaves 10,000 files beside its results: they are carried out of the sandbox
 * with the rest, the check keeps exactly what the .changes names and says how many it left
 * out, only the package is published, and the daemon goes on to the next request.
 */
describe('a build leaving 10,000 files', () => {
  let b: TestBuilder;
  const repos: PackageRepo[] = [];

  beforeAll(async () => {
    b = new TestBuilder('many-files', { pockets: { dev: {} } });
    await b.startDaemon();
  });
  afterAll(async () => {
    for (const r of repos) r.cleanup();
    await b?.cleanup();
  });

  const submit = (name: string, p: Parameters<PackageRepo['commitVersion']>[0]) => {
    const repo = new PackageRepo(b.reposDir, name);
    repos.push(repo);
    return b.submit('dev', name, repo.commitVersion(p));
  };

  it('keeps what the .changes names, says what it left out, and serves the next request', async () => {
    // In debian/rules, after the .deb is made: 10,000 files where the results are collected.
    const many = submit('pb-many-files', {
      version: '1.0',
      binaryCommands: ['seq 1 10000 | split -l 1 -d -a 5 - ../stray-'],
    });
    const next = submit('pb-after-many', { version: '1.0' });
    const res = await b.waitFor(many);
    const log = b.buildLog(many);
    expect(res.status, log).toBe('succeeded');
    expect(log).toMatch(
      /check: 10000 other files the build left are not named by pb-many-files_1\.0_[a-z0-9]+\.changes and are not kept \(stray-00000, stray-00001, stray-00002, stray-00003, stray-00004, …\)/,
    );
    const kept = fs.readdirSync(path.join(b.stateDir, 'builds', many, 'outputs')).sort();
    expect(kept).toEqual(res.outputs.map((o) => o.file).sort());
    expect(kept.some((f) => f.startsWith('stray-'))).toBe(false);
    expect(kept.length).toBeLessThan(10);
    expect(fs.existsSync(path.join(b.stateDir, 'work', many))).toBe(false);

    expect((await b.waitFor(next)).status, b.buildLog(next)).toBe('succeeded');
    expect(b.published('dev')).toEqual(['pb-after-many 1.0', 'pb-many-files 1.0']);
    const pool = path.join(b.aptDir(), 'pool');
    const published = fs.readdirSync(pool, { recursive: true }) as string[];
    expect(published.filter((f) => f.includes('stray-'))).toEqual([]);
  });
});
