import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer } from '../../src/web/server.js';
import { sha256Entries } from '../../src/publish/by-hash.js';
import { makeChanges, makePublishedRepo } from '../helpers/apt-repo.js';
import { rawRequest, request, type RawResponse } from '../helpers/http.js';

/**
 * The web server over a real repository (reprepro, our signing hook, one published package),
 * spoken to over real sockets: what is published is served as apt expects, and nothing else
 * is, however the request is spelt, whatever symlinks are planted.
 */
let tmp: string;
let repoDir: string;
let server: RunningWebServer;
let stopRepo: () => Promise<void>;
const SECRET = `POCKETBUILD-SECRET-${randomBytes(8).toString('hex')}`;
const serverLog: string[] = [];
const debRel = 'pool/main/p/pb-web/pb-web_1.0_all.deb';

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-web-'));
  fs.writeFileSync(path.join(tmp, 'secret.txt'), `${SECRET}\n`);
  const made = await makePublishedRepo(path.join(tmp, 'state'), ['stable']);
  stopRepo = made.stop;
  repoDir = made.repo.dir;
  fs.mkdirSync(path.join(tmp, 'upload'));
  const { changes } = makeChanges(path.join(tmp, 'upload'), { name: 'pb-web', version: '1.0', payloadBytes: 300_000 });
  await made.repo.include('stable', [changes]);

  const at = (rel: string) => path.join(repoDir, rel);
  fs.writeFileSync(at('builder.pub'), 'the builder key\n');
  fs.mkdirSync(at('provenance/pb-web'), { recursive: true });
  fs.writeFileSync(at('provenance/pb-web/pb-web_1.0_x.intoto.jsonl'), '{"payload":"x"}\n');
  // Secrets inside the repository directory, where only the publisher should read them.
  for (const rel of ['conf/secret-note', 'db/secret-note', 'private.txt', 'dists/stable/.secret', 'pool/main/.secret'])
    fs.writeFileSync(at(rel), `${SECRET}\n`);
  // Symlinks planted in the published tree, out of it or into its private parts.
  const links: Record<string, string> = {
    'pool/main/p/pb-web/evil.deb': path.relative(at('pool/main/p/pb-web'), path.join(tmp, 'secret.txt')),
    'pool/main/p/pb-web/abs.deb': path.join(tmp, 'secret.txt'),
    'pool/main/evil-dir': tmp,
    'pool/main/p/pb-web/conf-link': '../../../../conf/secret-note',
    'pool/main/p/pb-web/db-dir': '../../../../db',
    'dists/stable/evil': '/etc/passwd',
    'dists/stable/main/binary-amd64/by-hash/SHA256/evil': path.join(tmp, 'secret.txt'),
    'provenance/evil': tmp,
    'pool/main/p/pb-web/alias.deb': 'pb-web_1.0_all.deb',
  };
  for (const [rel, target] of Object.entries(links)) fs.symlinkSync(target, at(rel));

  server = await startWebServer({ repoDir, listen: '127.0.0.1', port: 0, log: (l) => serverLog.push(l) });
});

afterAll(async () => {
  await server?.close();
  await stopRepo?.();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const disk = (rel: string) => fs.readFileSync(path.join(repoDir, rel));

describe('what is published', () => {
  it('is served whole with an ETag and a Last-Modified, GET and HEAD', async () => {
    const release = disk('dists/stable/Release').toString();
    const byHash = sha256Entries(release)
      .filter((e) => e.path.endsWith('Packages.gz'))
      .map((e) => `dists/stable/${path.dirname(e.path)}/by-hash/SHA256/${e.sha256}`);
    expect(byHash.length).toBeGreaterThan(0);
    const files = [
      'dists/stable/InRelease',
      'dists/stable/Release',
      'dists/stable/Release.gpg',
      'dists/stable/main/binary-amd64/Packages.gz',
      ...byHash,
      debRel,
      'key.gpg',
      'key.asc',
      'builder.pub',
      'provenance/pb-web/pb-web_1.0_x.intoto.jsonl',
      // A symlink that stays among the published files is only another name.
      'pool/main/p/pb-web/alias.deb',
    ];
    for (const rel of files) {
      const r = await request(server.port, `/apt/${rel}`);
      expect(r.status, rel).toBe(200);
      expect(r.headers.etag, rel).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
      expect(r.headers['last-modified'], rel).toBeDefined();
      expect(r.headers['accept-ranges'], rel).toBe('bytes');
      expect(r.body.equals(disk(rel)), rel).toBe(true);
      const head = await request(server.port, `/apt/${rel}`, { method: 'HEAD' });
      expect(head.status, rel).toBe(200);
      expect(Number(head.headers['content-length']), rel).toBe(disk(rel).length);
      expect(head.body.length, rel).toBe(0);
    }
    expect(release).toMatch(/\nAcquire-By-Hash: yes\n/);
    const immutable = await request(server.port, `/apt/${byHash[0]}`);
    expect(immutable.headers['cache-control']).toContain('immutable');
  });

  it('answers conditional GETs with 304 and ranges with 206, as apt resumes and revalidates', async () => {
    const url = `/apt/${debRel}`;
    const whole = disk(debRel);
    const first = await request(server.port, url);
    const etag = first.headers.etag!;
    const modified = first.headers['last-modified']!;
    expect((await request(server.port, url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const ims = await request(server.port, url, { headers: { 'if-modified-since': modified } });
    expect(ims.status).toBe(304);
    expect(ims.body.length).toBe(0);
    const old = await request(server.port, url, { headers: { 'if-modified-since': 'Sat, 01 Jan 2000 00:00:00 GMT' } });
    expect(old.status).toBe(200);

    const part = await request(server.port, url, { headers: { range: 'bytes=100-1099' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-1099/${whole.length}`);
    expect(part.body.equals(whole.subarray(100, 1100))).toBe(true);
    // apt resumes a partial download with If-Range: the date of what it has.
    const resume = await request(server.port, url, { headers: { range: 'bytes=1000-', 'if-range': modified } });
    expect(resume.status).toBe(206);
    expect(resume.body.equals(whole.subarray(1000))).toBe(true);
    const stale = await request(server.port, url, {
      headers: { range: 'bytes=1000-', 'if-range': 'Sat, 01 Jan 2000 00:00:00 GMT' },
    });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(whole)).toBe(true);
    const beyond = await request(server.port, url, { headers: { range: `bytes=${whole.length + 10}-` } });
    expect(beyond.status).toBe(416);
  });
});

describe('what is not published', () => {
  it("is never served: reprepro's conf/ and db/, other files, directories", async () => {
    for (const rel of [
      'conf/distributions',
      'conf/pocketbuild-sign-release',
      'conf/secret-note',
      'db/packages.db',
      'db/checksums.db',
      'db/secret-note',
      'conf/',
      'db/',
      'conf',
      'db',
      'private.txt',
      '',
      'dists/',
      'dists/stable/',
      'pool/main/',
      'provenance/',
    ]) {
      const r = await request(server.port, `/apt/${rel}`);
      expect([403, 404], rel).toContain(r.status);
      expect(r.body.toString(), rel).not.toContain(SECRET);
      expect(r.body.toString(), rel).toMatch(/^40[34] (Not Found|Forbidden)\n$/);
    }
  });

  it('is refused for any method but GET and HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'MKCOL']) {
      const r = await request(server.port, '/apt/key.gpg', { method });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow, method).toBe('GET, HEAD');
    }
    expect(fs.existsSync(path.join(repoDir, 'key.gpg'))).toBe(true);
  });
});

/** Ways to spell "go up one directory" that servers have been fooled by. */
const UP = [
  '../',
  '..%2f',
  '..%2F',
  '%2e%2e/',
  '%2E%2E%2F',
  '.%2e/',
  '%2e./',
  '%252e%252e%252f',
  '..%252f',
  '%c0%ae%c0%ae/',
  '%c0%ae%c0%ae%c0%af',
  '..%c0%af',
  '%e0%80%ae%e0%80%ae/',
  '..%5c',
  '..\\',
  '%2e%2e%5c',
  '..%00/',
  '..;/',
  '....//',
  '%u002e%u002e/',
  '..%ef%bc%8f',
];
const FROM = ['/apt/', '/apt/dists/', '/apt/pool/main/', '/apt/dists/stable/main/binary-amd64/'];
const TO = ['secret.txt', 'conf/distributions', 'etc/passwd'];

function hostileTargets(): string[] {
  const out: string[] = [];
  for (const from of FROM)
    for (const up of UP)
      for (const to of TO) {
        const depth = from.split('/').length - 1;
        out.push(`${from}${up.repeat(depth + 2)}${to}`);
      }
  out.push(
    // Symlinks planted in the tree.
    '/apt/pool/main/p/pb-web/evil.deb',
    '/apt/pool/main/p/pb-web/abs.deb',
    '/apt/pool/main/evil-dir/secret.txt',
    '/apt/pool/main/p/pb-web/conf-link',
    '/apt/pool/main/p/pb-web/db-dir/secret-note',
    '/apt/dists/stable/evil',
    '/apt/dists/stable/main/binary-amd64/by-hash/SHA256/evil',
    '/apt/provenance/evil/secret.txt',
    // Dot files and the private parts, spelt in other ways.
    '/apt/dists/stable/.secret',
    '/apt/pool/main/.secret',
    '/apt/%2esecret',
    '/apt/conf%2fsecret-note',
    '/apt/conf%2Fdistributions',
    '/apt/dists%2f..%2fconf%2fsecret-note',
    '/apt/CONF/secret-note',
    '/apt/Conf/distributions',
    '/APT/conf/distributions',
    '/apt//conf/secret-note',
    '/apt/./conf/secret-note',
    '/apt/dists/./../conf/secret-note',
    '/apt/key.gpg/../conf/secret-note',
    '/apt/key.gpg/..%2fconf%2fsecret-note',
    '/apt/conf/secret-note?download=1',
    '/apt/conf/secret-note#x',
    '/apt/conf/secret-note%00.deb',
    '/apt/key.gpg%00',
    '/apt/db/secret-note;.deb',
    // Absolute paths.
    '/apt//etc/passwd',
    `/apt/${tmp}/secret.txt`,
    `/apt/%2f${encodeURIComponent(tmp.slice(1))}%2fsecret.txt`,
    '/apt/file:///etc/passwd',
    '/etc/passwd',
    `http://127.0.0.1/apt/../../secret.txt`,
    '//apt/conf/secret-note',
    '*',
    // Backslashes.
    '/apt/dists\\..\\conf\\secret-note',
    '/apt/pool\\main\\..\\..\\..\\secret.txt',
    '/apt\\conf\\distributions',
    // Encodings that do not decode.
    '/apt/%',
    '/apt/%zz',
    '/apt/%c0',
    '/apt/%ff%fe',
    '/apt/dists/%ed%a0%80',
    // Very long paths.
    `/apt/${'a/'.repeat(3000)}x`,
    `/apt/dists/${'x'.repeat(60_000)}`,
    `/apt/${'../'.repeat(2000)}etc/passwd`,
    `/apt/pool/${'%2e%2e%2f'.repeat(500)}etc/passwd`,
  );
  return out;
}

describe('a hostile corpus of request targets', () => {
  it('gets a 4xx for every one, and never a byte of anything outside what is published', async () => {
    const targets = hostileTargets();
    expect(targets.length).toBeGreaterThanOrEqual(100);
    const raw: Array<[string | Buffer, RawResponse]> = [];
    for (const t of targets) raw.push([t, await rawRequest(server.port, t)]);
    // Bytes no client would send as they are: NUL, a space, a newline, a DEL, an overlong slash.
    for (const bytes of [
      Buffer.from('/apt/conf\x00/secret-note', 'latin1'),
      Buffer.from('/apt/../conf/secret-note\x00', 'latin1'),
      Buffer.from('/apt/conf /secret-note', 'latin1'),
      Buffer.from('/apt/\x7fconf/secret-note', 'latin1'),
      Buffer.from([...Buffer.from('/apt/pool/'), 0xc0, 0xaf, ...Buffer.from('../conf/secret-note')]),
      Buffer.from('/apt/dists/\r\nX-Injected: 1\r\n/x', 'latin1'),
    ])
      raw.push([bytes, await rawRequest(server.port, bytes)]);
    const problems: string[] = [];
    for (const [t, r] of raw) {
      const body = r.body.toString('latin1');
      const shown = JSON.stringify(String(t).slice(0, 120));
      if (r.status < 400 || r.status > 499) problems.push(`${shown}: status ${r.status}`);
      for (const leak of [SECRET, 'SignWith', 'root:x:0:0', 'pocketbuild-sign-release'])
        if (body.includes(leak) || r.head.includes(leak)) problems.push(`${shown}: the answer contains ${leak}`);
      if (/\bat .+:\d+:\d+|Error:|node_modules|\/src\//.test(body))
        problems.push(`${shown}: a stack or a path: ${body}`);
    }
    expect(problems).toEqual([]);
    // HEAD and the server: still healthy after all that, and no server-side error was logged.
    expect((await request(server.port, '/apt/key.gpg', { method: 'HEAD' })).status).toBe(200);
    expect(serverLog).toEqual([]);
  });
});
