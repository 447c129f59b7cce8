import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { CLI, asTestUser, privateAptOptions, runAs, tempDirForTestUser, testUserEnv } from '../helpers/env.js';
import { request } from '../helpers/http.js';

/**
 * The APT repository over HTTP as a user meets it: a package built and published by the real
 * daemon, `pocketbuild web` run as its own process, and real apt-get (private configuration,
 * trusting only the key it fetched from the server) updating from it and downloading the package.
 */
describe('pocketbuild web: apt over HTTP', () => {
  let b: TestBuilder;
  let pkg: PackageRepo;
  let web: ChildProcess | undefined;
  let webLog = '';
  let port = 0;
  let aptDir: string;

  beforeAll(async () => {
    b = new TestBuilder('web-apt', { pockets: { stable: {} }, extraYaml: 'web:\n  port: 0' });
    pkg = new PackageRepo(b.reposDir, 'pb-web');
    aptDir = tempDirForTestUser('web-apt-client');
    await b.startDaemon();
  });

  afterAll(async () => {
    if (web && web.exitCode === null && web.signalCode === null) {
      const gone = new Promise((resolve) => web!.once('exit', resolve));
      web.kill('SIGTERM');
      await Promise.race([gone, sleep(10_000)]);
      if (web.exitCode === null && web.signalCode === null) web.kill('SIGKILL');
    }
    pkg?.cleanup();
    if (aptDir) fs.rmSync(aptDir, { recursive: true, force: true });
    await b?.cleanup();
  });

  /** Start `pocketbuild web` as the test user; resolves with the port it says it listens on. */
  async function startWeb(): Promise<number> {
    const argv = asTestUser(['node', CLI, '--config', b.configFile, 'web']);
    const child = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    web = child;
    // The server is stopped in afterAll; this bounds it if that never runs.
    setTimeout(() => child.kill('SIGKILL'), 10 * 60_000).unref();
    child.stdout!.on('data', (c: Buffer) => (webLog += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (webLog += c.toString()));
    for (let i = 0; i < 200; i++) {
      const m = /web: listening on 127\.0\.0\.1:(\d+)/.exec(webLog);
      if (m) return Number(m[1]);
      if (child.exitCode !== null) throw new Error(`pocketbuild web exited:\n${webLog}`);
      await sleep(100);
    }
    throw new Error(`pocketbuild web did not start:\n${webLog}`);
  }

  it('serves a package the daemon built to apt-get, which fetches the indices by hash', async () => {
    const id = b.submit('stable', 'pb-web', pkg.commitVersion({ version: '1.0', greeting: 'served over http' }));
    const result = await b.waitFor(id);
    expect(result.status, b.buildLog(id)).toBe('succeeded');

    port = await startWeb();
    expect(webLog).toContain(
      `deb [signed-by=/etc/apt/keyrings/pocketbuild.gpg] http://127.0.0.1:${port}/apt stable main`,
    );

    // The key comes from the server, as the README tells users to fetch it.
    const key = await request(port, '/apt/key.gpg');
    expect(key.status).toBe(200);
    expect(key.body.equals(fs.readFileSync(path.join(b.aptDir(), 'key.gpg')))).toBe(true);
    const keyFile = path.join(aptDir, 'pocketbuild.gpg');
    fs.writeFileSync(keyFile, key.body);

    const opts = privateAptOptions(aptDir, [`deb [signed-by=${keyFile}] http://127.0.0.1:${port}/apt stable main`]);
    const update = runAs(['apt-get', '-q', ...opts, '-o', 'Debug::Acquire::http=true', 'update'], {
      timeoutMs: 120_000,
    });
    expect(update.stdout).toMatch(/^Get:\d+ http:\/\/127\.0\.0\.1:\d+\/apt stable InRelease/m);
    expect(update.stdout + update.stderr).not.toMatch(/^(W|E|Err):/m);
    expect(update.stderr).toMatch(/GET \/apt\/dists\/stable\/main\/binary-amd64\/by-hash\/SHA256\/[0-9a-f]{64} HTTP/);
    const release = await request(port, '/apt/dists/stable/Release');
    expect(release.body.toString()).toMatch(/\nAcquire-By-Hash: yes\n/);

    // A second update finds nothing new (304s), and says so.
    const again = runAs(['apt-get', '-q', ...opts, 'update'], { timeoutMs: 120_000 });
    expect(again.stdout).toMatch(/^Hit:\d+ http:\/\/127\.0\.0\.1:\d+\/apt stable InRelease/m);

    const dl = path.join(aptDir, 'download');
    runAs(['mkdir', dl]);
    runAs(['apt-get', '-q', ...opts, 'download', 'pb-web'], { cwd: dl, timeoutMs: 120_000 });
    const got = path.join(dl, 'pb-web_1.0_all.deb');
    const published = path.join(b.aptDir(), 'pool/main/p/pb-web/pb-web_1.0_all.deb');
    const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    expect(sha(got)).toBe(sha(published));
    // And what it downloaded is the program that was built.
    runAs(['dpkg-deb', '-x', got, path.join(dl, 'root')]);
    expect(runAs([path.join(dl, 'root/usr/bin/pb-web')]).stdout).toBe('served over http\n');
  });

  it('serves the builder key and the provenance, and nothing of conf/ or db/', async () => {
    expect(port, 'the first test started the server').not.toBe(0);
    const pub = await request(port, '/apt/builder.pub');
    expect(pub.status).toBe(200);
    expect(pub.body.equals(fs.readFileSync(path.join(b.aptDir(), 'builder.pub')))).toBe(true);
    const provDir = path.join(b.aptDir(), 'provenance', 'pb-web');
    const [prov] = fs.readdirSync(provDir);
    expect((await request(port, `/apt/provenance/pb-web/${prov}`)).status).toBe(200);
    for (const rel of ['conf/distributions', 'conf/pocketbuild-sign-release', 'db/packages.db', 'dists/', '']) {
      expect((await request(port, `/apt/${rel}`)).status, rel).toBe(404);
    }
  });

  it('stops on SIGTERM', async () => {
    expect(web, 'the first test started the server').toBeDefined();
    const gone = new Promise<number | null>((resolve) => web!.once('exit', (code) => resolve(code)));
    web!.kill('SIGTERM');
    expect(await Promise.race([gone, sleep(10_000).then(() => 'still running')])).toBe(0);
    expect(webLog).toContain('web: SIGTERM: stopping');
  });
});
