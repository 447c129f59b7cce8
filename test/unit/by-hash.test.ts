import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addByHash, BY_HASH_KEEP_SECONDS, sha256Entries, withAcquireByHash } from '../../src/publish/by-hash.js';
import { isPublishedPath } from '../../src/publish/public-paths.js';
import { signInALaterSecond } from '../../src/publish/release-hook.js';
import { AptRepository } from '../../src/publish/reprepro.js';
import { createSigningKey, exportPublicKey, gnupgHome, stopAgent } from '../../src/publish/signing-key.js';
import { hostArch } from '../../src/util/host-arch.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A Release as reprepro writes it, naming `files` (path -> content). */
function release(files: Record<string, string>): string {
  const rows = (f: (c: string) => string) =>
    Object.entries(files).map(([p, c]) => ` ${f(c)} ${String(Buffer.byteLength(c)).padStart(8)} ${p}`);
  return [
    'Origin: pocketbuild',
    'Suite: stable',
    'Codename: stable',
    'Date: Sat, 21 Nov 2026 12:00:00 UTC',
    'Architectures: amd64',
    'Components: main',
    'MD5Sum:',
    ...rows((c) => createHash('md5').update(c).digest('hex')),
    'SHA256:',
    ...rows(sha),
    '',
  ].join('\n');
}

let suite: string;
beforeEach(() => {
  suite = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-byhash-')), 'dists', 'stable');
  fs.mkdirSync(path.join(suite, 'main', 'binary-amd64'), { recursive: true });
});
afterEach(() => {
  fs.rmSync(path.dirname(path.dirname(suite)), { recursive: true, force: true });
});

const write = (rel: string, text: string) => fs.writeFileSync(path.join(suite, rel), text);
const byHash = (content: string) => path.join(suite, 'main', 'binary-amd64', 'by-hash', 'SHA256', sha(content));

/** One export as reprepro does it: new files at .new, the hook, then the renames. */
function publish(files: Record<string, string>, now: number): void {
  for (const [p, c] of Object.entries(files)) write(`${p}.new`, c);
  write('Release.new', release(files));
  addByHash(path.join(suite, 'Release.new'), now);
  for (const p of [...Object.keys(files), 'Release']) fs.renameSync(path.join(suite, `${p}.new`), path.join(suite, p));
}

describe('Release files', () => {
  it('get Acquire-By-Hash in the header, once', () => {
    const text = release({ 'main/binary-amd64/Packages': 'x' });
    const marked = withAcquireByHash(text);
    expect(marked.split('\n').slice(5, 8)).toEqual(['Components: main', 'Acquire-By-Hash: yes', 'MD5Sum:']);
    expect(withAcquireByHash(marked)).toBe(marked);
  });

  it('list their SHA256 section and refuse paths that leave the suite', () => {
    expect(sha256Entries(release({ 'main/binary-amd64/Packages.gz': 'abc' }))).toEqual([
      { sha256: sha('abc'), size: 3, path: 'main/binary-amd64/Packages.gz' },
    ]);
    expect(() => sha256Entries(release({ '../../../etc/passwd': 'x' }))).toThrow(/unexpected line/);
  });
});

describe('by-hash indices', () => {
  it('are copied from the new indices before the Release that names them is visible', () => {
    write('main/binary-amd64/Packages', 'old');
    publish({ 'main/binary-amd64/Packages': 'new', 'main/binary-amd64/Packages.gz': 'new.gz' }, Date.now());
    expect(fs.readFileSync(byHash('new'), 'utf8')).toBe('new');
    expect(fs.readFileSync(byHash('new.gz'), 'utf8')).toBe('new.gz');
    expect(fs.readFileSync(path.join(suite, 'Release'), 'utf8')).toContain('\nAcquire-By-Hash: yes\n');
  });

  it('skip indices reprepro lists but does not write, and refuse one that is not what the Release says', () => {
    write('Release.new', release({ 'main/binary-amd64/Packages': 'never written' }));
    addByHash(path.join(suite, 'Release.new'));
    expect(fs.existsSync(byHash('never written'))).toBe(false);
    write('main/binary-amd64/Packages.new', 'something else');
    expect(() => addByHash(path.join(suite, 'Release.new'))).toThrow(/is not the file its Release names/);
  });

  it('outlive the Release naming them by the keep time, counted from when it stopped being current', () => {
    const t0 = Date.now();
    const minute = 60_000;
    const keep = BY_HASH_KEEP_SECONDS * 1000;
    publish({ 'main/binary-amd64/Packages': 'v1' }, t0);
    // Much later, v2 replaces v1: clients holding v1's InRelease may still come for it.
    publish({ 'main/binary-amd64/Packages': 'v2' }, t0 + 10 * keep);
    expect(fs.existsSync(byHash('v1'))).toBe(true);
    publish({ 'main/binary-amd64/Packages': 'v3' }, t0 + 10 * keep + minute);
    expect(fs.existsSync(byHash('v1'))).toBe(true);
    // A keep time after v1 and v2 stopped being current, both go; the current v3 and the new v4 stay.
    publish({ 'main/binary-amd64/Packages': 'v4' }, t0 + 11 * keep + 2 * minute);
    expect(fs.existsSync(byHash('v1'))).toBe(false);
    expect(fs.existsSync(byHash('v2'))).toBe(false);
    expect(fs.existsSync(byHash('v3'))).toBe(true);
    expect(fs.existsSync(byHash('v4'))).toBe(true);
  });

  it('keep an index that comes back, and leave no temporary files', () => {
    const t0 = Date.now();
    publish({ 'main/binary-amd64/Packages': 'a' }, t0);
    publish({ 'main/binary-amd64/Packages': 'b' }, t0 + 1000);
    publish({ 'main/binary-amd64/Packages': 'a' }, t0 + 2000);
    const dir = path.dirname(byHash('a'));
    expect(fs.readdirSync(dir).sort()).toEqual([sha('a'), sha('b')].sort());
  });
});

describe('what clients may read', () => {
  it('is dists/, pool/, provenance/ and the keys, spelled canonically', () => {
    for (const ok of [
      'dists/stable/InRelease',
      '/pool/main/h/hello/hello_2.10-3_amd64.deb',
      'key.gpg',
      '/key.asc',
      'builder.pub',
      'provenance/hello/hello_2.10-3_x.intoto.jsonl',
      'dists/stable/main/binary-amd64/by-hash/SHA256/' + sha('x'),
    ])
      expect(isPublishedPath(ok), ok).toBe(true);
    for (const bad of [
      '',
      '/',
      'conf/distributions',
      'db/packages.db',
      'conf/pocketbuild-sign-release',
      'dists',
      'dists/',
      'dists//stable',
      'dists/./stable',
      'dists/../conf/distributions',
      'pool/.hidden',
      'dists/stable/.tmp-Packages-1-ab',
      'key.gpg/x',
      'pool\\..\\conf',
      'pool/a\u0000b',
      'lockfile',
      'Key.gpg',
    ])
      expect(isPublishedPath(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('a new Release', () => {
  it('is signed in a later second than the current one, so If-Modified-Since never hides it', async () => {
    write('InRelease', 'current');
    const current = Math.floor(fs.statSync(path.join(suite, 'InRelease')).mtimeMs / 1000);
    await signInALaterSecond(suite);
    expect(Math.floor(Date.now() / 1000)).toBeGreaterThan(current);
    // An old one costs no wait.
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(suite, 'InRelease'), old, old);
    const t0 = Date.now();
    await signInALaterSecond(suite);
    expect(Date.now() - t0).toBeLessThan(100);
  });
});

describe('a repository made before the signing hook', () => {
  it('gets by-hash indices when the daemon configures it', async () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-oldrepo-'));
    try {
      const fpr = await createSigningKey(state);
      const repo = AptRepository.forStateDir(state);
      // As older versions wrote it: reprepro signs by itself, no by-hash.
      fs.mkdirSync(path.join(repo.dir, 'conf'), { recursive: true });
      fs.writeFileSync(
        path.join(repo.dir, 'conf', 'distributions'),
        `Codename: stable\nSuite: stable\nArchitectures: ${hostArch()} source\nComponents: main\nSignWith: ${fpr}\n`,
      );
      const r = spawnSync('reprepro', ['-b', repo.dir, 'export'], {
        env: { ...process.env, GNUPGHOME: gnupgHome(state) },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const release = () => fs.readFileSync(path.join(repo.dir, 'dists', 'stable', 'Release'), 'utf8');
      expect(release()).not.toContain('Acquire-By-Hash');

      const pocket = {
        name: 'stable',
        suite: 'stable',
        distribution: 'bookworm',
        acl: [],
        allow_backtracking: false,
        promote_from: [],
        architectures: ['amd64'],
        sandbox: 'userns' as const,
        deb_build_options: '',
        notify: [],
      };
      await repo.configure([pocket], fpr);
      expect(release()).toMatch(/\nAcquire-By-Hash: yes\n/);
      for (const e of sha256Entries(release()).filter((e) =>
        fs.existsSync(path.join(repo.dir, 'dists', 'stable', e.path)),
      ))
        expect(
          fs.existsSync(path.join(repo.dir, 'dists', 'stable', path.dirname(e.path), 'by-hash', 'SHA256', e.sha256)),
          e.path,
        ).toBe(true);
      expect(fs.readFileSync(path.join(repo.dir, 'conf', 'distributions'), 'utf8')).toContain(
        'SignWith: ! pocketbuild-sign-release',
      );
      // The hook's signature is good.
      const key = await exportPublicKey(state, fpr, path.join(state, 'public'));
      const v = spawnSync('gpgv', ['--keyring', key, path.join(repo.dir, 'dists', 'stable', 'InRelease')], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(v.status, v.stderr).toBe(0);
    } finally {
      await stopAgent(state);
      fs.rmSync(state, { recursive: true, force: true });
    }
  });
});
