import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer } from '../../src/web/server.js';
import { loadConfig } from '../../src/config/load.js';
import { rawRequest, request } from '../helpers/http.js';

/**
 * The status site with planted records: every hostile target gets a 4xx and nothing outside
 * the records and the repository; markup in a record's fields is shown as text.
 */
let tmp: string;
let server: RunningWebServer;
const SECRET = `POCKETBUILD-SECRET-${randomBytes(8).toString('hex')}`;
const ID = '01m80c1x8k3v2q7d';
const PROMOTED = '01m80c2a0k3v2q7e';
const log: string[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-site-'));
  const state = path.join(tmp, 'state');
  fs.mkdirSync(path.join(state, 'apt'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'secret.txt'), `${SECRET}\n`);
  const rec = path.join(state, 'builds', ID);
  fs.mkdirSync(path.join(rec, 'outputs'), { recursive: true });
  const request = {
    v: 1,
    id: ID,
    pocket: 'dev',
    package: 'pb-site',
    commit: 'a'.repeat(40),
    commit_spec: 'main',
    principal: 'alice',
    origin: 'ssh',
    time: '2026-12-01T00:00:00.000Z',
  };
  fs.writeFileSync(path.join(rec, 'request.json'), JSON.stringify(request));
  const ended = {
    ...request,
    status: 'failed',
    code: 'BuildFailed',
    reason: '<script>alert(1)</script> & "quotes"',
    started: '2026-12-01T00:00:01.000Z',
    finished: '2026-12-01T00:00:02.000Z',
  };
  fs.writeFileSync(
    path.join(rec, 'result.json'),
    JSON.stringify({ ...ended, stages: [], outputs: [{ file: 'evil.deb', size: 1, sha256: 'b'.repeat(64) }] }),
  );
  // The index the daemon keeps, which lists read.
  fs.mkdirSync(path.join(state, 'index'));
  // And a promotion of it into stable (docs/promotion.md): labelled as such on its page and in lists.
  const promoted = {
    ...request,
    id: PROMOTED,
    pocket: 'stable',
    commit_spec: '1.0',
    promote: { from: 'dev', version: '1.0', build: ID },
  };
  fs.mkdirSync(path.join(state, 'builds', PROMOTED), { recursive: true });
  fs.writeFileSync(path.join(state, 'builds', PROMOTED, 'request.json'), JSON.stringify(promoted));
  const promotedEnd = {
    ...promoted,
    status: 'succeeded',
    version: '1.0',
    started: '2026-12-01T00:00:03.000Z',
    finished: '2026-12-01T00:00:04.000Z',
    stages: [],
    outputs: [],
  };
  fs.writeFileSync(path.join(state, 'builds', PROMOTED, 'result.json'), JSON.stringify(promotedEnd));
  const { promote: _p, stages: _s, outputs: _o, ...promotedIndexed } = promotedEnd;
  fs.writeFileSync(
    path.join(state, 'index', 'builds.jsonl'),
    JSON.stringify(ended) + '\n' + JSON.stringify({ ...promotedIndexed, promoted_from: 'dev' }) + '\n',
  );
  fs.writeFileSync(path.join(rec, 'build.log'), `</pre><script>alert(2)</script>\n${'x'.repeat(10)}\n`);
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(rec, 'outputs', 'evil.deb'));
  fs.writeFileSync(path.join(rec, 'secret-note'), `${SECRET}\n`);
  const cfgFile = path.join(tmp, 'config.yml');
  fs.writeFileSync(
    cfgFile,
    `state_dir: ${state}\npockets:\n  dev:\n    suite: dev\n  stable:\n    suite: stable\n    promote_from: [dev]\n`,
  );
  server = await startWebServer({
    repoDir: path.join(state, 'apt'),
    config: loadConfig(cfgFile),
    listen: '127.0.0.1',
    port: 0,
    log: (l) => log.push(l),
  });
});
afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function targets(): string[] {
  const up = ['../', '..%2f', '%2e%2e/', '%2e%2e%2f', '..%5c', '%252e%252e%252f', '....//', '..;/'];
  const to = ['secret.txt', 'state/builds/x/secret-note', 'etc/passwd'];
  const from = [
    '/builds/',
    `/builds/${ID}/`,
    `/builds/${ID}/outputs/`,
    '/pockets/',
    '/packages/',
    '/api/builds/',
    '/feeds/pocket/',
    '/badges/package/',
    '/static/',
  ];
  const out: string[] = [];
  for (const f of from) for (const u of up) for (const t of to.slice(0, 2)) out.push(`${f}${u.repeat(6)}${t}`);
  out.push(
    `/builds/${ID}/outputs/evil.deb`,
    `/builds/${ID}/outputs/secret-note`,
    `/builds/${ID}/outputs/..%2fsecret-note`,
    `/builds/${ID}/outputs/%2e%2e%2fsecret-note`,
    `/builds/${ID}/outputs/request.json`,
    `/builds/${ID.toUpperCase()}`,
    '/builds/%00',
    `/builds/${ID}%00`,
    '/packages/%00',
    '/packages/a',
    '/packages/-rf',
    '/pockets/DEV',
    '/pockets/%',
    '/pockets/%c0%ae%c0%ae',
    '/api/builds?pocket=%00',
    '/api/builds?package=../../x',
    '/api/builds?principal=root%0a',
    '/api/builds?status=succeeded&status=failed',
    '/api/builds?page=-1',
    '/api/builds?page=1e9',
    '/api/builds?page=abc',
    `/builds/${ID}/log/events?from=-5x`.replace('-5x', '-5'),
    `/badges/package/${'a'.repeat(5000)}.svg`,
    `/feeds/package/${'%2e'.repeat(300)}.atom`,
    `/${'a/'.repeat(3000)}`,
    '/static/../../etc/passwd',
    '/static/live.js/../../secret.txt',
    '/api/../../secret.txt',
  );
  return out;
}

describe('the status site against a hostile corpus', () => {
  it('gets a 4xx for every target and never reads outside the records', async () => {
    const list = targets();
    expect(list.length).toBeGreaterThanOrEqual(100);
    const problems: string[] = [];
    for (const t of list) {
      const r = await rawRequest(server.port, t);
      const body = r.body.toString('latin1');
      // A negative offset is read as 0: a whole log, not an error (the only 2xx allowed here).
      const allowed = t.includes('/log/events') ? r.status === 200 : r.status >= 400 && r.status < 500;
      if (!allowed) problems.push(`${t.slice(0, 100)}: status ${r.status}`);
      if (body.includes(SECRET) || body.includes('root:x:0:0')) problems.push(`${t.slice(0, 100)}: leaked`);
      if (/\bat .+:\d+:\d+|node_modules|\/src\//.test(body)) problems.push(`${t.slice(0, 100)}: a stack: ${body}`);
    }
    expect(problems).toEqual([]);
    expect(log).toEqual([]);
  });

  it('shows markup from a record as text, under a CSP that forbids inline script', async () => {
    const page = await request(server.port, `/builds/${ID}`);
    expect(page.status).toBe(200);
    const html = page.body.toString();
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
    expect(html).toContain('&lt;/pre&gt;&lt;script&gt;alert(2)');
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self';/);
    const feed = (await request(server.port, '/feeds/package/pb-site.atom')).body.toString();
    expect(feed).toContain('&lt;script&gt;alert(1)');
    expect(feed).not.toContain('<script>');
  });
});

describe('a promotion on the status site', () => {
  it('says on its page and in the lists where it was promoted from, and whose files it published', async () => {
    const page = (await request(server.port, `/builds/${PROMOTED}`)).body.toString();
    expect(page).toContain(
      `<dt>promoted</dt><dd class="promoted">from <a href="/pockets/dev">dev</a>, not rebuilt: the files of build <a href="/builds/${ID}">${ID}</a></dd>`,
    );
    const list = (await request(server.port, '/pockets/stable')).body.toString();
    expect(list).toContain('1.0 <small class="promoted">promoted from dev</small>');
    // A build is not labelled.
    expect((await request(server.port, `/builds/${ID}`)).body.toString()).not.toContain('class="promoted"');
  });
});

describe('slow and endless clients', () => {
  it('answer others while 1,000 connections sit idle and an SSE client never reads', async () => {
    const idle: net.Socket[] = [];
    for (let i = 0; i < 1000; i++) idle.push(net.connect(server.port, '127.0.0.1'));
    await Promise.all(idle.map((s) => new Promise((r) => s.once('connect', r))));
    // A live log whose client reads nothing: paused at once, so the server's writes back up.
    const stuck = net.connect(server.port, '127.0.0.1');
    stuck.write(`GET /builds/${ID}/log/events HTTP/1.1\r\nHost: x\r\n\r\n`);
    stuck.pause();
    try {
      for (const p of ['/', `/builds/${ID}`, '/api/home', '/static/live.js']) {
        const r = await request(server.port, p);
        expect(r.status, p).toBe(200);
      }
    } finally {
      for (const s of idle) s.destroy();
      stuck.destroy();
    }
  });
});
