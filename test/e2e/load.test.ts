import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer } from '../../src/web/server.js';
import { run } from '../../src/util/run.js';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { ClientKeys, EmbeddedServer, embeddedSshYaml, freePort } from '../helpers/ssh.js';
import { asTestUser, privateAptOptions, runAs, tempDirForTestUser, testUserEnv } from '../helpers/env.js';

/**
 * Many SSH clients at once while builds run and the repository is read over HTTP: every
 * accepted request ends exactly once, nothing is lost or doubled, what is published and the
 * pocket branches agree with the requests that succeeded, and the audit log verifies.
 *
 * `npm run load` runs the size (1,000 requests from 50 clients); `npm test` a tenth.
 */
const FULL = process.env.PB_LOAD === 'full';
const REQUESTS = FULL ? 1000 : 100;
const CLIENTS = FULL ? 50 : 10;
const PRINCIPALS = ['p1', 'p2', 'p3', 'p4', 'p5'];
const PACKAGES = ['pb-load-a', 'pb-load-b', 'pb-load-c'];
const POCKETS = ['stable', 'dev'];
const VERSIONS = ['1.0', '1.1', '1.2'];

describe(`${REQUESTS} requests from ${CLIENTS} SSH clients at once`, () => {
  let b: TestBuilder;
  let server: EmbeddedServer;
  let web: RunningWebServer;
  const repos = new Map<string, PackageRepo>();
  /** package → version → commit */
  const commits = new Map<string, Map<string, string>>();

  beforeAll(async () => {
    const keys = new ClientKeys(tempDirForTestUser('load-keys'), PRINCIPALS);
    const port = await freePort();
    b = new TestBuilder('load', {
      pockets: { stable: {}, dev: {} },
      slots: 2,
      extraYaml: embeddedSshYaml(port, keys, PRINCIPALS).join('\n'),
    });
    for (const pkg of PACKAGES) {
      const repo = new PackageRepo(b.reposDir, pkg);
      repos.set(pkg, repo);
      commits.set(pkg, new Map(VERSIONS.map((v) => [v, repo.commitVersion({ version: v })])));
    }
    server = new EmbeddedServer(keys, b.configFile, port, path.join(b.root, 'ssh-server.log'));
    await server.start();
    await b.startDaemon();
    web = await startWebServer({ repoDir: b.aptDir(), listen: '127.0.0.1', port: 0, log: () => {} });
  });

  afterAll(async () => {
    await web?.close();
    await server?.stop();
    for (const r of repos.values()) r.cleanup();
    await b?.cleanup();
  });

  it('ends every request once; repository, branches and audit log agree', async () => {
    // The repository is read the whole time, as clients of the builder would.
    const aptDir = tempDirForTestUser('load-apt');
    fs.copyFileSync(path.join(b.aptDir(), 'key.gpg'), path.join(aptDir, 'key.gpg'));
    const aptOptions = privateAptOptions(
      aptDir,
      POCKETS.map((s) => `deb [signed-by=${path.join(aptDir, 'key.gpg')}] http://127.0.0.1:${web.port}/apt ${s} main`),
    );
    let reading = true;
    const updates: Array<{ code: number | null; out: string }> = [];
    const reader = (async () => {
      while (reading) {
        const r = await run(asTestUser(['apt-get', '-q', ...aptOptions, 'update']), {
          env: testUserEnv(),
          timeoutMs: 120_000,
        });
        updates.push({ code: r.code, out: r.stdout + r.stderr });
        await sleep(200);
      }
    })();

    // Each client sends its share of requests one after another; all clients at once.
    const sent: Array<{ principal: string; command: string; code: number | null; out: string }> = [];
    let next = 0;
    const client = async (c: number) => {
      const principal = PRINCIPALS[c % PRINCIPALS.length]!;
      for (let i = next++; i < REQUESTS; i = next++) {
        const pkg = PACKAGES[i % PACKAGES.length]!;
        const pocket = POCKETS[Math.floor(i / PACKAGES.length) % POCKETS.length]!;
        const version = VERSIONS[Math.floor(i / (PACKAGES.length * POCKETS.length)) % VERSIONS.length]!;
        const command = `submit ${pocket} ${pkg} ${commits.get(pkg)!.get(version)!}`;
        const r = await server.runAsync(principal, command);
        sent.push({ principal, command, code: r.code, out: r.stdout + r.stderr });
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));

    expect(sent).toHaveLength(REQUESTS);
    const failed = sent.filter((s) => s.code !== 0);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    const ids = sent.map((s) => /\b([0-9a-hjkmnp-tv-z]{16})\b/.exec(s.out)?.[1]);
    expect(ids.filter((id) => !id)).toEqual([]);
    expect(new Set(ids).size).toBe(REQUESTS);

    for (const id of ids) await b.waitFor(id!);
    reading = false;
    await reader;

    // Every request once in the audit log, as accepted and as finished; the log verifies.
    expect(b.cli(['audit', 'verify']).stdout).toMatch(/^audit log OK: /);
    const entries = b.auditEntries();
    const countBy = (type: string) => {
      const m = new Map<string, number>();
      for (const e of entries) if (e.type === type && e.build) m.set(e.build, (m.get(e.build) ?? 0) + 1);
      return m;
    };
    const accepted = countBy('request.accepted');
    const finished = countBy('build.finished');
    for (const id of ids) {
      expect(accepted.get(id!), id).toBe(1);
      expect(finished.get(id!), id).toBe(1);
    }

    // Each request ended as the queue's order says it must: a version is published once per
    // pocket, and a repeat is refused as not newer, an older commit as not a fast-forward.
    const results = ids.map((id) =>
      JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', id!, 'result.json'), 'utf8')),
    );
    const odd = results.filter(
      (r) =>
        r.status !== 'succeeded' && !(r.status === 'denied' && ['VersionNotNewer', 'NotFastForward'].includes(r.code)),
    );
    expect(odd.map((r) => `${r.id} ${r.status} ${r.code}: ${r.reason}`)).toEqual([]);
    const succeeded = results.filter((r) => r.status === 'succeeded');
    expect(countBy('publish').size).toBe(succeeded.length);
    for (const pocket of POCKETS) {
      const expected: string[] = [];
      for (const pkg of PACKAGES) {
        const mine = succeeded.filter((r) => r.pocket === pocket && r.package === pkg);
        // Versions only rise within a pocket: each succeeded build published a newer one.
        const versions = mine.map((r) => r.version as string);
        const detail = mine.map((r) => `${r.id} ${r.version} ${r.commit.slice(0, 8)} ${r.started}..${r.finished}`);
        expect(new Set(versions).size, `${pocket} ${pkg}: ${detail.join('; ')}`).toBe(versions.length);
        const newest = mine.sort((x, y) => x.finished.localeCompare(y.finished)).at(-1);
        expect(newest, `${pocket} ${pkg}`).toBeDefined();
        expected.push(`${pkg} ${newest!.version}`);
        expect(b.git(pkg, ['rev-parse', `refs/heads/${pocket}`])).toBe(newest!.commit);
      }
      expect(b.published(pocket)).toEqual(expected.sort());
    }
    expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'))).toEqual([]);

    // The readers never failed, however often the suites changed under them.
    expect(updates.length).toBeGreaterThan(0);
    const bad = updates.filter((u) => u.code !== 0 || /mismatch/i.test(u.out));
    expect(bad.map((u) => u.out)).toEqual([]);
    runAs(['rm', '-rf', aptDir]);
  });
});
