import fs from 'node:fs';

import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { asTestUser, CLI, testUserEnv, writeExecutable } from '../helpers/env.js';
import { freePort } from '../helpers/ssh.js';
import { request } from '../helpers/http.js';

const CHROMIUM = '/usr/bin/chromium';
/** Where screenshots go when asked for (POCKETBUILD_SCREENSHOTS=DIR), for the closing note. */
const SHOTS = process.env.POCKETBUILD_SCREENSHOTS;
const XSS = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">';

/**
 * The status site, for real: a daemon building real packages, `pocketbuild web` serving them,
 * HTTP answers checked, and Debian's chromium following a running build's log live.
 */
describe('the status site', () => {
  let b: TestBuilder;
  let web: ChildProcess;
  let port: number;
  let browser: Browser;
  const repos: PackageRepo[] = [];
  let okId: string;
  let failId: string;
  let slowId: string;
  const get = (p: string, headers: Record<string, string> = {}) => request(port, p, { headers });

  beforeAll(async () => {
    port = await freePort();
    b = new TestBuilder('web-site', {
      pockets: { dev: { allow_backtracking: true } },
      extraYaml: ['web:', '  listen: 127.0.0.1', `  port: ${port}`, `  base_url: http://127.0.0.1:${port}/`].join('\n'),
    });
    const ok = new PackageRepo(b.reposDir, 'pb-web-ok');
    ok.commitVersion({ version: '1.0' });
    const bad = new PackageRepo(b.reposDir, 'pb-web-bad');
    bad.commitVersion({ version: '1.0', buildCommands: ['false'] });
    const slow = new PackageRepo(b.reposDir, 'pb-web-slow');
    slow.commitVersion({
      version: '2.0',
      buildCommands: [`echo '${XSS}'`, 'sleep 12', 'echo pb-web-late-line'],
    });
    repos.push(ok, bad, slow);
    writeExecutable(
      path.join(b.hooksDir, '10-url'),
      '#!/bin/sh\necho "$POCKETBUILD_EVENT $POCKETBUILD_URL" >> "$POCKETBUILD_STATE_DIR/urls"\n',
    );
    await b.startDaemon();
    okId = b.submit('dev', 'pb-web-ok', 'main');
    failId = b.submit('dev', 'pb-web-bad', 'main');
    expect((await b.waitFor(okId, 600_000)).status, b.buildLog(okId)).toBe('succeeded');
    expect((await b.waitFor(failId, 600_000)).status).toBe('failed');
    const argv = asTestUser(['node', CLI, '--config', b.configFile, 'web']);
    const log = fs.openSync(path.join(b.root, 'web.log'), 'a');
    web = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(), stdio: ['ignore', log, log] });
    fs.closeSync(log);
    for (let i = 0; i < 100 && !fs.readFileSync(path.join(b.root, 'web.log'), 'utf8').includes('listening'); i++)
      await sleep(100);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    web?.kill('SIGTERM');
    for (const r of repos) r.cleanup();
    await b?.cleanup();
  });

  it('shows pockets, packages and builds, the same as its JSON API', async () => {
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(home.headers['content-security-policy']).toContain("script-src 'self'");
    expect(home.body.toString()).toContain(`/builds/${okId}`);
    const api = JSON.parse((await get('/api/home')).body.toString()) as { recent: { items: Array<{ id: string }> } };
    expect(api.recent.items.map((i) => i.id)).toEqual([failId, okId]);
    const pocket = JSON.parse((await get('/api/pockets/dev')).body.toString()) as {
      publishes: Array<{ package: string; id: string }>;
    };
    expect(pocket.publishes).toEqual([expect.objectContaining({ package: 'pb-web-ok', id: okId })]);
    expect((await get('/pockets/dev')).body.toString()).toContain('pb-web-ok');
    const pkg = JSON.parse((await get('/api/packages/pb-web-bad')).body.toString()) as {
      items: Array<{ code: string }>;
    };
    expect(pkg.items[0]!.code).toBe('BuildFailed');
    // Filters and their refusals.
    const failed = JSON.parse((await get('/api/builds?status=failed')).body.toString()) as {
      items: Array<{ id: string }>;
    };
    expect(failed.items.map((i) => i.id)).toEqual([failId]);
    for (const bad of [
      '/api/builds?status=nope',
      '/builds?pocket=..%2fetc',
      '/packages/%2e%2e',
      '/builds/zzz',
      '/api/builds?page=0',
    ])
      expect((await get(bad)).status, bad).toBe(400);
    for (const none of ['/pockets/nowhere', '/packages/pb-none', '/builds/0000000000000000'])
      expect((await get(none)).status, none).toBe(404);
    expect((await request(port, '/', { method: 'POST' })).status).toBe(405);
  });

  it('links every build: hooks get its page in POCKETBUILD_URL, submit says where to follow it', () => {
    expect(fs.readFileSync(path.join(b.stateDir, 'urls'), 'utf8')).toContain(
      `succeeded http://127.0.0.1:${port}/builds/${okId}\n`,
    );
    const sub = b.cli(['submit', 'dev', 'pb-web-ok', 'main']);
    const id = sub.stdout.trim();
    expect(sub.stderr).toBe(`pocketbuild: follow it at http://127.0.0.1:${port}/builds/${id}\n`);
    expect(b.cli(['cancel', id]).status).toBe(0);
  });

  it("shows a build's outputs with their sha256, its provenance verified, a badge and a feed", async () => {
    const page = (await get(`/builds/${okId}`)).body.toString();
    expect(page).toContain('Verified: signed by this builder');
    const result = JSON.parse((await get(`/api/builds/${okId}`)).body.toString()) as {
      result: { outputs: Array<{ file: string; sha256: string }> };
      provenance: { verified: boolean };
    };
    expect(result.provenance.verified).toBe(true);
    const deb = result.result.outputs.find((o) => o.file.endsWith('.deb'))!;
    const download = await get(`/builds/${okId}/outputs/${encodeURIComponent(deb.file)}`);
    expect(download.status).toBe(200);
    expect(createHash('sha256').update(download.body).digest('hex')).toBe(deb.sha256);
    expect((await get(`/builds/${okId}/outputs/request.json`)).status).toBe(404);
    const badge = await get('/badges/package/pb-web-ok.svg');
    expect(badge.headers['content-type']).toContain('image/svg+xml');
    expect(badge.body.toString()).toContain('succeeded');
    expect((await get('/badges/pocket/dev.svg')).body.toString()).toContain('failed');
    const feed = (await get('/feeds/pocket/dev.atom')).body.toString();
    expect(feed.match(/<entry>/g)).toHaveLength(2);
    expect(feed).toContain(`<link href="http://127.0.0.1:${port}/builds/${okId}"/>`);
  });

  it('a browser follows a running build live, the markup in its log never runs, and filters narrow the list', async () => {
    slowId = b.submit('dev', 'pb-web-slow', 'main');
    const page = await browser.newPage();
    for (let i = 0; i < 600 && !b.buildLog(slowId).includes('window.pwned'); i++) await sleep(100);
    await page.goto(`http://127.0.0.1:${port}/`);
    expect(await page.textContent('main')).toContain('pb-web-slow');
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'home.png'), fullPage: true });
    await page.click(`a[href="/builds/${slowId}"]`);
    expect(await page.textContent('#status')).toBe('running');
    await page.waitForFunction(() => document.getElementById('log')?.textContent?.includes('pb-web-late-line'), null, {
      timeout: 120_000,
    });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'succeeded', null, {
      timeout: 120_000,
    });
    expect(await page.textContent('#log')).toContain(XSS);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'build.png'), fullPage: true });
    await page.goto(`http://127.0.0.1:${port}/pockets/dev`);
    await page.selectOption('select[name=status]', 'failed');
    await page.click('form.filters button');
    const rows = await page.$$eval('table.builds tbody tr', (trs) => trs.map((tr) => tr.className));
    expect(rows).toEqual(['failed']);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'pocket.png'), fullPage: true });
    await page.close();
  });

  it('resumes a live log from where a client left off', async () => {
    const whole = (await get(`/builds/${slowId}/log`)).body.toString();
    const from = Buffer.byteLength(whole.slice(0, whole.indexOf('pb-web-late-line')));
    const events = (await get(`/builds/${slowId}/log/events`, { 'last-event-id': String(from) })).body.toString();
    const logs = [...events.matchAll(/^event: log\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as string).join('');
    expect(whole.endsWith(logs)).toBe(true);
    expect(logs.startsWith('pb-web-late-line')).toBe(true);
    expect(events).toMatch(/event: end\ndata: \{"status":"succeeded"/);
  });
});
