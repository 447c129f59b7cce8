import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';

/**
 * A repository made under one config (as `npm start` makes the demo under config.example.yml)
 * keeps queueing pushes once the builder runs with another (config.yml): the daemon points the
 * hooks pocketbuild installed at the config it runs with. Before, the push queued into the old
 * config's queue, which no daemon watched, and nothing was built.
 */
describe('push hooks follow the config the builder runs with', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let other: string;

  beforeAll(() => {
    b = new TestBuilder('repo-hooks-config', {
      pockets: { stable: {} },
      extraYaml: "auto_build:\n  - {branch: main, pocket: stable, package: '*'}",
    });
    // The same installation under an earlier config: another queue.
    other = path.join(b.root, 'other-config.yml');
    const otherQueue = path.join(b.root, 'other-queue');
    fs.writeFileSync(
      other,
      fs.readFileSync(b.configFile, 'utf8').replace(/^queue_dir: .*$/m, `queue_dir: ${otherQueue}`),
    );
    expect(b.cliWithConfig(other, ['repo', 'create', 'pb-hooks']).status).toBe(0);
  });

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  it('a push after the restart with the new config is built', async () => {
    const hook = path.join(b.reposDir, 'pb-hooks.git', 'hooks', 'post-receive');
    expect(fs.readFileSync(hook, 'utf8')).toContain(`--config '${other}'`);
    await b.startDaemon();
    expect(fs.readFileSync(hook, 'utf8')).toContain(`--config '${b.configFile}'`);
    expect(b.log()).toContain(`daemon: the push hooks of 1 repositories now use ${b.configFile}`);

    repo = new PackageRepo(b.reposDir, 'pb-hooks'); // reinitialising a bare repository keeps its hooks
    const commit = repo.commitVersion({ version: '1.0' });
    const builds = path.join(b.stateDir, 'builds');
    let id: string | undefined;
    for (let i = 0; i < 300 && !id; i++) {
      id = fs.existsSync(builds) ? fs.readdirSync(builds)[0] : undefined;
      if (!id) await sleep(100);
    }
    expect(id, 'the push queued nothing the daemon saw').toBeDefined();
    const res = await b.waitFor(id!);
    expect(res.status, b.buildLog(id!)).toBe('succeeded');
    expect(b.git('pb-hooks', ['rev-parse', 'refs/heads/stable'])).toBe(commit);
  });
});
