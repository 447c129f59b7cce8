import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { asTestUser, CLI, testUserEnv } from '../helpers/env.js';

/** A rebuild stopped part-way (Ctrl-C, or killed outright) leaves nothing behind that the next one trips on. */
describe('an interrupted rebuild', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let id: string;
  const workDirs = () => {
    try {
      return fs.readdirSync(path.join(b.stateDir, 'work')).filter((n) => n.includes('-rebuild-'));
    } catch {
      return [];
    }
  };

  beforeAll(async () => {
    b = new TestBuilder('rebuild-stop', { pockets: { dev: {} } });
    repo = new PackageRepo(b.reposDir, 'pb-rebuild-stop');
    repo.commitVersion({ version: '1.0', buildCommands: ['sleep 8'] });
    await b.startDaemon();
    id = b.submit('dev', 'pb-rebuild-stop', 'main');
    expect((await b.waitFor(id, 600_000)).status, b.buildLog(id)).toBe('succeeded');
  });
  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  /** Start `rebuild ID`; resolves with its exit and output once `sig` was sent during the build stage. */
  async function rebuildStoppedBy(sig: NodeJS.Signals) {
    const argv = asTestUser(['node', CLI, '--config', b.configFile, 'rebuild', id]);
    const child = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    for (let i = 0; i < 1200 && !/building as uid/.test(err); i++) await sleep(100);
    expect(err).toMatch(/building as uid/);
    expect(workDirs()).toHaveLength(1);
    child.kill(sig);
    return { code: await exited, err };
  }

  it('cleans its work directory up when stopped with Ctrl-C (SIGINT)', async () => {
    const r = await rebuildStoppedBy('SIGINT');
    expect(r.code).not.toBe(0);
    expect(workDirs()).toEqual([]);
  });

  it('killed outright, its leftovers are removed by the next rebuild, which says so and reproduces', async () => {
    await rebuildStoppedBy('SIGKILL');
    expect(workDirs()).toHaveLength(1);
    const started = Date.now();
    const next = b.cli(['rebuild', id], true);
    expect(next.status, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/rebuild: removed the work directory of an interrupted rebuild \(pid \d+\)/);
    expect(next.stdout).toMatch(/^reproduced: /m);
    expect(workDirs()).toEqual([]);
    process.stderr.write(`next rebuild took ${Date.now() - started} ms\n${next.stderr}\n`);
  });
});
