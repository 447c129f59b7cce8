import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer } from '../../src/web/server.js';
import type { AptRepository } from '../../src/publish/reprepro.js';
import { run } from '../../src/util/run.js';
import { makeChanges, makePublishedRepo, type MadeChanges } from '../helpers/apt-repo.js';
import { asTestUser, privateAptOptions, tempDirForTestUser, testUserEnv } from '../helpers/env.js';
import { request } from '../helpers/http.js';

/**
 * No client sees "Hash Sum mismatch" while publishing goes on: apt-get update runs again and
 * again over HTTP while the product's publish call (AptRepository.include, as the daemon's
 * publish step makes it) puts one version after another into the suite it reads.
 */
const UPDATES = 200;
/** A suite signs at most one new Release a second (release-hook.ts): two suites make twice the churn. */
const SUITES = ['stable', 'testing'];

let tmp: string;
let aptDir: string;
let repo: AptRepository;
let stopRepo: () => Promise<void>;
let server: RunningWebServer;
let versions: MadeChanges[];
let aptOptions: string[];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-web-race-'));
  const made = await makePublishedRepo(path.join(tmp, 'state'), SUITES);
  repo = made.repo;
  stopRepo = made.stop;
  fs.mkdirSync(path.join(tmp, 'upload'));
  // Each version has another Packages entry (size, hashes, version), so every publish changes the index.
  versions = ['1.0', '2.0', '3.0'].map((version, i) =>
    makeChanges(path.join(tmp, 'upload'), { name: 'pb-race', version, payloadBytes: 1000 * (i + 1) }),
  );
  for (const suite of SUITES) await repo.include(suite, [versions[0]!.changes], { replace: true });
  server = await startWebServer({ repoDir: repo.dir, listen: '127.0.0.1', port: 0, log: () => {} });

  aptDir = tempDirForTestUser('web-race-apt');
  const key = await request(server.port, '/apt/key.gpg');
  expect(key.status).toBe(200);
  fs.writeFileSync(path.join(aptDir, 'pocketbuild.gpg'), key.body, { mode: 0o644 });
  aptOptions = privateAptOptions(
    aptDir,
    SUITES.map(
      (suite) =>
        `deb [signed-by=${path.join(aptDir, 'pocketbuild.gpg')}] http://127.0.0.1:${server.port}/apt ${suite} main`,
    ),
  );
});

afterAll(async () => {
  await server?.close();
  await stopRepo?.();
  if (aptDir) fs.rmSync(aptDir, { recursive: true, force: true });
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** apt-get (or apt-cache) as the test user, without blocking this process, which serves the repository. */
function aptGet(args: string[], program = 'apt-get') {
  return run(asTestUser([program, '-q', ...aptOptions, ...args]), {
    env: testUserEnv(),
    timeoutMs: 120_000,
  });
}

describe('apt-get update while packages are published', () => {
  it('fetches the indices by hash', async () => {
    const r = await aptGet(['-o', 'Debug::Acquire::http=true', 'update']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(/GET \/apt\/dists\/stable\/InRelease HTTP/);
    expect(r.stderr).toMatch(/GET \/apt\/dists\/stable\/main\/binary-amd64\/by-hash\/SHA256\/[0-9a-f]{64} HTTP/);
    expect(r.stderr).not.toMatch(/GET \/apt\/dists\/stable\/main\/binary-amd64\/Packages/);
  });

  it(`never reports a hash sum mismatch or fails, ${UPDATES} times in a row`, async () => {
    let publishing = true;
    let publishes = 0;
    const publisher = (async () => {
      for (let i = 3; publishing; i++) {
        // replace: the source's version goes down as well as up, as in a backtracking pocket.
        const version = versions[Math.floor(i / SUITES.length) % versions.length]!;
        await repo.include(SUITES[i % SUITES.length]!, [version.changes], { replace: true });
        publishes++;
      }
    })();
    const failures: string[] = [];
    let indexFetches = 0;
    try {
      for (let i = 0; i < UPDATES; i++) {
        // No-Cache: InRelease is fetched every time, not only once a second (Last-Modified has
        // whole seconds), so the window between InRelease and the index opens as often as it can.
        const r = await aptGet(['-o', 'Acquire::http::No-Cache=true', '-o', 'Debug::Acquire::http=true', 'update']);
        const out = r.stdout + r.stderr;
        if (r.code !== 0 || /Hash Sum mismatch|unexpected size|^(E|W|Err):/m.test(out))
          failures.push(`update ${i}: ${r.how}\n${out}`);
        // The mechanism, every time: indices only by hash, never by a name a publish may replace.
        const byName = /GET \/apt\/dists\/\S+\/(Packages|Sources)\S* HTTP/.exec(out);
        if (byName) failures.push(`update ${i} fetched an index by name: ${byName[0]}`);
        indexFetches += (out.match(/GET \/apt\/dists\/\S+\/by-hash\/SHA256\/[0-9a-f]{64} HTTP/g) ?? []).length;
      }
    } finally {
      publishing = false;
      await publisher;
    }
    expect(failures).toEqual([]);
    // The race was run: publishes kept coming, and updates kept fetching the new indices.
    expect(publishes).toBeGreaterThanOrEqual(20);
    expect(indexFetches).toBeGreaterThanOrEqual(40);
    // Once publishing has stopped (after an include), a plain update (If-Modified-Since, no
    // No-Cache) sees it: no 304 for an InRelease written in the second the client last saw.
    expect((await aptGet(['update'])).code).toBe(0);
    const show = await aptGet(['show', 'pb-race'], 'apt-cache');
    expect(show.stdout).toMatch(/^Package: pb-race$/m);
  });

  it('sees a publish made right after its previous update, in the same second as the one before', async () => {
    // Versions above any the race published, one export each (no replace): as fast as publishing goes.
    const numbers = ['10.0', '11.0', '12.0', '13.0', '14.0', '15.0'];
    const later = numbers.map((version) => makeChanges(path.join(tmp, 'upload'), { name: 'pb-race', version }));
    await repo.include('stable', [later[0]!.changes]);
    for (let i = 1; i < later.length; i++) {
      expect((await aptGet(['update'])).code).toBe(0);
      await repo.include('stable', [later[i]!.changes]);
      const r = await aptGet(['update']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const show = await aptGet(['show', 'pb-race'], 'apt-cache');
      expect(show.stdout, `round ${i}`).toContain(`Version: ${numbers[i]}\n`);
    }
  });
});
