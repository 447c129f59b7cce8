import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identifySource, prepareSource } from '../../src/steps/source-package.js';
import { exportTree } from '../../src/git/export.js';
import { createMissingFromManifest, findPristineTarballs } from '../../src/git/pristine-tar.js';
import { runHostTool } from '../../src/sandbox/host-tool.js';
import { PocketbuildError } from '../../src/util/errors.js';
import { reproducibleGitEnv } from '../helpers/git-env.js';

/**
 * The export step against upstream tarballs imported the way packagers import them: a 3.0
 * (quilt) source made with dpkg-source, `gbp import-dsc --pristine-tar` into git, pushed to a
 * bare repository. What prepareSource regenerates must be, byte for byte, the original and
 * what `pristine-tar checkout` makes: with empty directories (which git cannot hold), with a
 * component tarball, with the upstream signature. Runs as root and as any other user: the
 * confined parts go through runHostTool's bubblewrap, which needs no privilege.
 */

let tmp: string;
let env: NodeJS.ProcessEnv;

function run(argv: string[], opts: { cwd?: string; input?: Buffer; extraEnv?: NodeJS.ProcessEnv } = {}): Buffer {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    env: { ...env, ...opts.extraEnv },
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0)
    throw new Error(
      `${argv.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout.toString()}\n${r.stderr.toString()}`,
    );
  return r.stdout;
}
const git = (cwd: string, args: string[], input?: Buffer) =>
  run(['git', '-c', 'init.defaultBranch=main', ...args], { cwd, input })
    .toString()
    .trim();
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const tarList = (file: string) => run(['tar', '-tf', file]).toString().split('\n').filter(Boolean);

function sink(): Writable & { text: () => string } {
  let text = '';
  const w = new Writable({
    write(c, _e, cb) {
      text += String(c);
      cb();
    },
  }) as Writable & { text: () => string };
  w.text = () => text;
  return w;
}

type Files = Record<string, string | { symlink: string }>;

function writeTree(root: string, files: Files): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const f = path.join(root, rel);
    if (rel.endsWith('/')) {
      fs.mkdirSync(f, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(f), { recursive: true });
    if (typeof content === 'string') fs.writeFileSync(f, content);
    else fs.symlinkSync(content.symlink, f);
  }
}

interface Made {
  name: string;
  /** The gbp repository (with a work tree), where `pristine-tar checkout` is run. */
  clone: string;
  /** A bare repository the clone's branches and tags were pushed to, as users push. */
  bare: string;
  /** The source package's files as dpkg-source made them: name -> path. */
  files: Record<string, string>;
  commit: string;
}

const COMPRESS = { gz: '-z', xz: '-J', bz2: '-j' } as const;

function makePackage(
  name: string,
  o: {
    ext: keyof typeof COMPRESS;
    upstream: Files;
    components?: Record<string, Files>;
    signature?: string;
    tarOptions?: string[];
    importEnv?: NodeJS.ProcessEnv;
  },
): Made {
  const work = path.join(tmp, name);
  const stage = path.join(work, 'stage');
  const top = `${name}-1.0`;
  const tar = (dir: string, out: string) =>
    run(
      [
        'tar',
        ...(o.tarOptions ?? ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000']),
        COMPRESS[o.ext],
        '-cf',
        out,
        dir,
      ],
      { cwd: stage },
    );
  writeTree(path.join(stage, top), o.upstream);
  const main = `${name}_1.0.orig.tar.${o.ext}`;
  tar(top, path.join(work, main));
  if (o.signature !== undefined) fs.writeFileSync(path.join(work, `${main}.asc`), o.signature);
  for (const [comp, files] of Object.entries(o.components ?? {})) {
    writeTree(path.join(stage, comp), files);
    tar(comp, path.join(work, `${name}_1.0.orig-${comp}.tar.${o.ext}`));
  }
  // The packaging tree: upstream, components in their directories, debian/.
  run(['tar', '-xf', main], { cwd: work });
  for (const comp of Object.keys(o.components ?? {}))
    run(['tar', '-C', top, '-xf', `${name}_1.0.orig-${comp}.tar.${o.ext}`], { cwd: work });
  writeTree(path.join(work, top), {
    'debian/changelog': `${name} (1.0-1) unstable; urgency=medium\n\n  * Test.\n\n -- Pocket Tester <tester@localhost>  Sat, 21 Nov 2026 12:00:00 +0000\n`,
    'debian/control': `Source: ${name}\nMaintainer: Pocket Tester <tester@localhost>\nStandards-Version: 4.6.2\nRules-Requires-Root: no\n\nPackage: ${name}\nArchitecture: all\nDescription: test\n test\n`,
    'debian/source/format': '3.0 (quilt)\n',
    'debian/rules': '#!/usr/bin/make -f\n%:\n\ttrue\n',
  });
  fs.chmodSync(path.join(work, top, 'debian/rules'), 0o755);
  run(['dpkg-source', '-b', top], { cwd: work });
  const files: Record<string, string> = {};
  for (const f of fs.readdirSync(work)) if (f.startsWith(`${name}_`)) files[f] = path.join(work, f);
  const clone = path.join(work, 'git');
  run(['gbp', 'import-dsc', '--pristine-tar', path.join(work, `${name}_1.0-1.dsc`), clone], {
    cwd: work,
    extraEnv: o.importEnv,
  });
  const bare = path.join(tmp, 'repos', `${name}.git`);
  git(tmp, ['init', '-q', '--bare', bare]);
  git(clone, ['push', '-q', bare, 'refs/heads/*:refs/heads/*', 'refs/tags/*:refs/tags/*']);
  return { name, clone, bare, files, commit: git(clone, ['rev-parse', 'refs/heads/master']) };
}

/** What `pristine-tar checkout` makes of `tarball` in the gbp clone. */
function checkout(m: Made, tarball: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'checkout-'));
  run(['pristine-tar', 'checkout', path.join(dir, tarball)], { cwd: m.clone });
  return path.join(dir, tarball);
}

async function prepare(m: Made, gitdir: string) {
  const id = await identifySource(gitdir, m.commit, m.name);
  const workDir = fs.mkdtempSync(path.join(tmp, 'build-'));
  const log = sink();
  const prepared = await prepareSource(gitdir, m.commit, id, workDir, log);
  return { id, workDir, log: log.text(), prepared };
}

/** A copy of `m.bare` whose pristine-tar branch has `tarball`'s delta replaced. */
function withDelta(m: Made, tarball: string, delta: Buffer): string {
  const copy = fs.mkdtempSync(path.join(tmp, 'hostile-')) + `/${m.name}.git`;
  git(tmp, ['clone', '-q', '--bare', m.bare, copy]);
  const blob = git(copy, ['hash-object', '-w', '--stdin'], delta);
  const lines = git(copy, ['ls-tree', 'refs/heads/pristine-tar'])
    .split('\n')
    .map((l) => (l.endsWith(`\t${tarball}.delta`) ? `100644 blob ${blob}\t${tarball}.delta` : l));
  const tree = git(copy, ['mktree'], Buffer.from(`${lines.join('\n')}\n`));
  const commit = git(copy, ['commit-tree', tree, '-p', 'refs/heads/pristine-tar', '-m', 'hostile'], Buffer.alloc(0));
  git(copy, ['update-ref', 'refs/heads/pristine-tar', commit]);
  return copy;
}

/** The delta of `tarball` on m's branch, its manifest changed by `edit`. */
function editedDelta(m: Made, tarball: string, edit: (manifest: string) => string): Buffer {
  const dir = fs.mkdtempSync(path.join(tmp, 'delta-'));
  fs.writeFileSync(
    path.join(dir, 'd.tar.gz'),
    run(['git', 'show', `refs/heads/pristine-tar:${tarball}.delta`], { cwd: m.bare }),
  );
  fs.mkdirSync(path.join(dir, 'x'));
  run(['tar', '-xzf', path.join(dir, 'd.tar.gz'), '-C', path.join(dir, 'x')]);
  const manifest = path.join(dir, 'x', 'manifest');
  fs.writeFileSync(manifest, edit(fs.readFileSync(manifest, 'latin1')), 'latin1');
  run(['tar', '-czf', path.join(dir, 'new.tar.gz'), '-C', path.join(dir, 'x'), ...fs.readdirSync(path.join(dir, 'x'))]);
  return fs.readFileSync(path.join(dir, 'new.tar.gz'));
}

const UPSTREAM: Files = {
  README: 'upstream\n',
  'data/empty/': '',
  'data/nested/deeper/': '',
  'data/file': 'x\n',
  'bin/tool': '#!/bin/sh\necho tool\n',
  link: { symlink: 'README' },
  'top-empty/': '',
};
const SIGNATURE = '-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQ==\n=abcd\n-----END PGP SIGNATURE-----\n';

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-ptexport-'));
  env = { ...reproducibleGitEnv(tmp), LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  delete env.GIT_DIR;
  delete env.GIT_WORK_TREE;
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('upstream tarballs with empty directories', () => {
  const made = new Map<string, Made>();
  beforeAll(() => {
    for (const ext of ['gz', 'xz', 'bz2'] as const)
      made.set(ext, makePackage(`ptx-empty-${ext}`, { ext, upstream: UPSTREAM }));
  });

  it.each(['gz', 'xz', 'bz2'] as const)(
    '.orig.tar.%s: regenerated byte for byte, as pristine-tar checkout makes it, empty directories inside',
    async (ext) => {
      const m = made.get(ext)!;
      const tarball = `${m.name}_1.0.orig.tar.${ext}`;
      const original = sha256(m.files[tarball]!);
      const fromCheckout = sha256(checkout(m, tarball));
      expect(fromCheckout).toBe(original);

      for (const gitdir of [m.bare, path.join(m.clone, '.git')]) {
        const { id, workDir, log, prepared } = await prepare(m, gitdir);
        expect(id.needsUpstreamTarball).toBe(true);
        expect(prepared.upstreamTarball).toEqual({ name: tarball, from: 'pristine-tar' });
        expect(prepared.upstreamFiles).toEqual([tarball]);
        const out = path.join(prepared.inDir, tarball);
        expect(sha256(out)).toBe(original);
        const names = tarList(out);
        for (const d of ['data/empty/', 'data/nested/', 'data/nested/deeper/', 'top-empty/'])
          expect(names).toContain(`${m.name}-1.0/${d}`);
        expect(log).toContain(
          `export: 4 directories of ${tarball} that git does not store recreated from its manifest (data/empty, data/nested, data/nested/deeper, top-empty)`,
        );
        expect(log).toContain(`${tarball} regenerated from the pristine-tar branch`);
        // Nothing but the tree and the tarball is left for dpkg-source; scratch space is gone.
        expect(fs.readdirSync(prepared.inDir).sort()).toEqual([`${m.name}-1.0`, tarball]);
        expect(fs.readdirSync(workDir)).toEqual(['in']);
      }
    },
  );

  it('a tarball as upstreams make them (pax format, unsorted, real owners and times, escaped names), imported in the C locale', async () => {
    const m = makePackage('ptx-messy', {
      ext: 'gz',
      tarOptions: ['--format=posix'],
      // pristine-tar commit then writes the manifest with octal escapes: caf\303\251.
      importEnv: { LANG: 'C', LC_ALL: 'C' },
      upstream: {
        README: 'x\n',
        'café/notes': 'y\n',
        'vide é/': '',
        'with space/inner/': '',
        'tab\there/': '',
        'back\\slash/': '',
        'zz/': '',
        'aa/b/': '',
      },
    });
    const tarball = `${m.name}_1.0.orig.tar.gz`;
    const manifest = run(
      ['sh', '-c', 'git show "refs/heads/pristine-tar:$1.delta" | tar -xzOf - manifest', 'sh', tarball],
      { cwd: m.bare },
    ).toString('latin1');
    expect(manifest).toContain('caf\\303\\251/notes');
    expect(manifest).toContain('tab\\there/');
    expect(sha256(checkout(m, tarball))).toBe(sha256(m.files[tarball]!));
    const { prepared, log } = await prepare(m, m.bare);
    expect(sha256(path.join(prepared.inDir, tarball))).toBe(sha256(m.files[tarball]!));
    expect(log).toMatch(/export: 8 directories of \S+ that git does not store recreated from its manifest/);
  });

  it('pristine-tar gentar alone, on the tree git holds, fails on them: that is what create_missing is for', async () => {
    const m = made.get('gz')!;
    const tarball = `${m.name}_1.0.orig.tar.gz`;
    const workDir = fs.mkdtempSync(path.join(tmp, 'gentar-'));
    const delta = path.join(workDir, 'd.delta');
    fs.writeFileSync(delta, run(['git', 'show', `refs/heads/pristine-tar:${tarball}.delta`], { cwd: m.bare }));
    const up = path.join(workDir, 'up');
    await exportTree(m.bare, git(m.bare, ['show', `refs/heads/pristine-tar:${tarball}.id`]), up);
    const log = sink();
    await expect(
      runHostTool(['pristine-tar', 'gentar', delta, path.join(workDir, tarball)], {
        workDir,
        cwd: up,
        timeoutMs: 120_000,
        log,
        what: 'gentar',
      }),
    ).rejects.toThrow();
    expect(log.text()).toMatch(/Cannot stat: No such file or directory/);
  });

  it('a manifest naming ../escape, an absolute path or a path through a symlink is refused, and nothing is created outside', async () => {
    const m = made.get('gz')!;
    const tarball = `${m.name}_1.0.orig.tar.gz`;
    const cases: { edit: (s: string) => string; why: RegExp }[] = [
      { edit: (s) => `${s}../escape/\n`, why: /"\.\.\/escape\/", which has a "\.\." component/ },
      { edit: (s) => `${s}${m.name}-1.0/../escape/\n`, why: /has a "\.\." component/ },
      { edit: (s) => `${s}${m.name}-1.0/\\056\\056/escape/\n`, why: /has a "\.\." component/ },
      { edit: (s) => `${s}${path.join(tmp, 'abs-escape')}/\n`, why: /is an absolute path/ },
      {
        edit: (s) => `${s}${m.name}-1.0/link/escape/\n`,
        why: /lies below "link", which is a symlink in the upstream tree/,
      },
      { edit: (s) => `${s}${m.name}-1.0/README/escape/\n`, why: /lies below "README", which is not a directory/ },
    ];
    for (const c of cases) {
      const gitdir = withDelta(m, tarball, editedDelta(m, tarball, c.edit));
      const workDir = fs.mkdtempSync(path.join(tmp, 'build-'));
      const id = await identifySource(gitdir, m.commit, m.name);
      const err = await prepareSource(gitdir, m.commit, id, workDir, sink()).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PocketbuildError);
      expect((err as PocketbuildError).code).toBe('UnsafePristineTarManifest');
      expect((err as PocketbuildError).message).toMatch(c.why);
      expect((err as PocketbuildError).message).toContain('pristine-tar commit');
      // Where each of those names would have landed: the work directory, its parent, tmp.
      for (const where of [workDir, path.dirname(workDir), tmp, path.dirname(tmp)])
        expect(fs.existsSync(path.join(where, 'escape')), where).toBe(false);
      expect(fs.existsSync(path.join(tmp, 'abs-escape'))).toBe(false);
      expect(fs.readdirSync(workDir)).toEqual(['in']);
      expect(fs.readdirSync(path.join(workDir, 'in'))).toEqual([`${m.name}-1.0`]);
    }
  });

  it('a delta that is not a tarball, or has no manifest, is a BrokenPristineTar', async () => {
    const m = made.get('xz')!;
    const tarball = `${m.name}_1.0.orig.tar.xz`;
    const noManifest = (() => {
      const dir = fs.mkdtempSync(path.join(tmp, 'delta-'));
      fs.writeFileSync(path.join(dir, 'type'), 'tar\n');
      return run(['tar', '-czf', '-', '-C', dir, 'type']);
    })();
    for (const [delta, why] of [
      [Buffer.from('not a tarball at all\n'), /cannot be unpacked/],
      [noManifest, /has no manifest/],
    ] as const) {
      const gitdir = withDelta(m, tarball, delta);
      const id = await identifySource(gitdir, m.commit, m.name);
      const err = await prepareSource(gitdir, m.commit, id, fs.mkdtempSync(path.join(tmp, 'build-')), sink()).then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as PocketbuildError).code).toBe('BrokenPristineTar');
      expect((err as PocketbuildError).message).toMatch(why);
    }
  });
});

describe('component tarballs and the upstream signature', () => {
  let m: Made;
  const main = 'ptx-comp_1.0.orig.tar.xz';
  const extra = 'ptx-comp_1.0.orig-extra.tar.xz';
  beforeAll(() => {
    m = makePackage('ptx-comp', {
      ext: 'xz',
      upstream: { README: 'main\n', 'docs/': '' },
      components: { extra: { notes: 'component\n', 'void/': '', 'deep/er/': '' } },
      signature: SIGNATURE,
    });
  });

  it('gbp stored them as this test expects: a tree per tarball, the .asc beside the main one', () => {
    const branch = git(m.bare, ['ls-tree', '--name-only', 'refs/heads/pristine-tar']).split('\n');
    expect(branch).toEqual([`${extra}.delta`, `${extra}.id`, `${main}.asc`, `${main}.delta`, `${main}.id`]);
    expect(Object.keys(m.files).sort()).toEqual([
      'ptx-comp_1.0-1.debian.tar.xz',
      'ptx-comp_1.0-1.dsc',
      extra,
      main,
      `${main}.asc`,
    ]);
    // The main tarball's tree is the upstream tree without extra/, made by gbp for the
    // occasion: no commit holds it, so the push did not carry it.
    const mainTree = git(m.clone, ['show', `refs/heads/pristine-tar:${main}.id`]);
    expect(git(m.clone, ['cat-file', '-t', mainTree])).toBe('tree');
    expect(spawnSync('git', ['cat-file', '-e', mainTree], { cwd: m.bare, env }).status).not.toBe(0);
  });

  it('findPristineTarballs: the main tarball first, then the components, with signatures', async () => {
    const found = await findPristineTarballs(m.bare, 'ptx-comp', '1.0');
    expect(found.map((e) => [e.tarball, e.component, e.signature?.toString()])).toEqual([
      [main, undefined, SIGNATURE],
      [extra, 'extra', undefined],
    ]);
    // Found again from the upstream tag, hash for hash.
    expect(found[0]!.rebuiltFrom).toEqual({
      ref: 'refs/tags/upstream/1.0',
      tree: git(m.bare, ['rev-parse', 'upstream/1.0^{tree}']),
      without: ['extra'],
    });
    expect((await findPristineTarballs(path.join(m.clone, '.git'), 'ptx-comp', '1.0'))[0]!.rebuiltFrom).toBeUndefined();
  });

  it('every tarball regenerated byte for byte as pristine-tar checkout makes it, and the .asc copied beside', async () => {
    for (const t of [main, extra]) expect(sha256(checkout(m, t))).toBe(sha256(m.files[t]!));
    for (const gitdir of [m.bare, path.join(m.clone, '.git')]) {
      const { prepared, log } = await prepare(m, gitdir);
      expect(prepared.upstreamTarball).toEqual({ name: main, from: 'pristine-tar' });
      expect(prepared.upstreamFiles).toEqual([main, `${main}.asc`, extra]);
      expect(fs.readdirSync(prepared.inDir).sort()).toEqual(['ptx-comp-1.0', extra, main, `${main}.asc`]);
      for (const f of [main, `${main}.asc`, extra])
        expect(sha256(path.join(prepared.inDir, f)), f).toBe(sha256(m.files[f]!));
      expect(tarList(path.join(prepared.inDir, main))).toEqual(expect.arrayContaining(['ptx-comp-1.0/docs/']));
      expect(tarList(path.join(prepared.inDir, main)).some((n) => n.includes('extra'))).toBe(false);
      expect(tarList(path.join(prepared.inDir, extra))).toEqual(
        expect.arrayContaining(['extra/void/', 'extra/deep/', 'extra/deep/er/', 'extra/notes']),
      );
      expect(log).toContain(`${main}.asc (upstream signature) copied from the pristine-tar branch`);
      if (gitdir === m.bare) expect(log).toContain('refs/tags/upstream/1.0 without extra');
    }
  });

  it('dpkg-source builds a source package from them that lists the same files as the original .dsc', async () => {
    const { prepared } = await prepare(m, m.bare);
    run(['dpkg-source', '-b', 'ptx-comp-1.0'], { cwd: prepared.inDir });
    const files = (dsc: string) =>
      fs
        .readFileSync(dsc, 'utf8')
        .split('Checksums-Sha256:\n')[1]!
        .split('\nFiles:')[0]!
        .split('\n')
        .filter((l) => !l.includes('.debian.tar.'));
    expect(files(path.join(prepared.inDir, 'ptx-comp_1.0-1.dsc'))).toEqual(files(m.files['ptx-comp_1.0-1.dsc']!));
  });

  it('a component name dpkg-source would not take, or components without a main tarball, are refused', async () => {
    const copy = fs.mkdtempSync(path.join(tmp, 'names-')) + '/ptx-comp.git';
    git(tmp, ['clone', '-q', '--bare', m.bare, copy]);
    const rename = (from: string, to: string) => {
      const lines = git(copy, ['ls-tree', 'refs/heads/pristine-tar'])
        .split('\n')
        .map((l) => l.replace(`\t${from}`, `\t${to}`));
      const tree = git(copy, ['mktree'], Buffer.from(`${lines.join('\n')}\n`));
      git(copy, [
        'update-ref',
        'refs/heads/pristine-tar',
        git(copy, ['commit-tree', tree, '-m', 'renamed'], Buffer.alloc(0)),
      ]);
    };
    rename(`${extra}.delta`, 'ptx-comp_1.0.orig-Extra_X.tar.xz.delta');
    await expect(findPristineTarballs(copy, 'ptx-comp', '1.0')).rejects.toMatchObject({
      code: 'BadPristineTarName',
      message: expect.stringMatching(/component name "Extra_X"/),
    });
    rename('ptx-comp_1.0.orig-Extra_X.tar.xz.delta', `${extra}.delta`);
    rename(`${main}.delta`, 'elsewhere.delta');
    await expect(findPristineTarballs(copy, 'ptx-comp', '1.0')).rejects.toMatchObject({
      code: 'BrokenPristineTar',
      message: expect.stringMatching(/no ptx-comp_1\.0\.orig\.tar\.\* for the main upstream tarball/),
    });
  });
});

describe('createMissingFromManifest', () => {
  let dir: string;
  let outside: string;
  const ctx = { tarball: 'p_1.orig.tar.gz', label: 'p.git' };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(tmp, 'cm-'));
  });
  const fresh = () => {
    const d = fs.mkdtempSync(path.join(dir, 'up-'));
    outside = fs.mkdtempSync(path.join(dir, 'outside-'));
    writeTree(d, { README: 'x', 'sub/file': 'y', link: { symlink: outside }, rel: { symlink: '..' } });
    return d;
  };
  const listing = (d: string): string[] => {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(d, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        out.push(e.isDirectory() ? `${r}/` : r);
        if (e.isDirectory()) walk(r);
      }
    };
    walk('');
    return out.sort();
  };

  it('creates, as directories, the names the tree lacks (parents first), under the common top directory', () => {
    const d = fresh();
    const manifest =
      'p-1/\np-1/README\np-1/a/b/c/\np-1/sub/\np-1/sub/file\np-1/sub/new\np-1/link\np-1/with\\040space/\np-1/caf\\303\\251/\np-1/back\\\\slash/\n';
    const created = createMissingFromManifest(Buffer.from(manifest, 'latin1'), d, ctx);
    expect(created.map((c) => Buffer.from(c, 'latin1').toString('utf8'))).toEqual([
      'a',
      'a/b',
      'a/b/c',
      'sub/new',
      'with space',
      'café',
      'back\\slash',
    ]);
    // Also made, not reported: the names as pristine-tar 1.49 misread them, for gentar's
    // second attempt (only that attempt's tarball lists them).
    expect(listing(d)).toEqual([
      'README',
      'a/',
      'a/b/',
      'a/b/c/',
      'back\\slash/',
      'caf\\303\\251/',
      'café/',
      'link',
      'rel',
      'sub/',
      'sub/file',
      'sub/new/',
      'with space/',
      'with\\040space/',
    ]);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('without a common top directory, names are relative to the tree itself', () => {
    const d = fresh();
    expect(createMissingFromManifest(Buffer.from('README\nempty/\nsub/deeper/\n'), d, ctx)).toEqual([
      'empty',
      'sub/deeper',
    ]);
  });

  it('refuses, before creating anything, names that leave the tree or pass through a symlink or a file', () => {
    const bad: [string, RegExp][] = [
      ['../escape/', /has a "\.\." component/],
      ['p-1/../escape/', /has a "\.\." component/],
      ['p-1/\\056\\056/escape/', /has a "\.\." component/],
      ['/abs/', /is an absolute path/],
      ['p-1/link/escape/', /lies below "link", which is a symlink/],
      ['p-1/rel/escape/', /lies below "rel", which is a symlink/],
      ['p-1/README/escape/', /lies below "README", which is not a directory/],
      ['p-1/nul\\000/', /NUL byte/],
      ['p-1/wide\\777/', /octal escape beyond a byte/],
    ];
    for (const [line, why] of bad) {
      const d = fresh();
      const before = listing(d);
      let err: unknown;
      try {
        createMissingFromManifest(Buffer.from(`p-1/\np-1/early/\n${line}\np-1/late/\n`, 'latin1'), d, ctx);
      } catch (e) {
        err = e;
      }
      expect(err, line).toBeInstanceOf(PocketbuildError);
      expect((err as PocketbuildError).code).toBe('UnsafePristineTarManifest');
      expect((err as PocketbuildError).message).toMatch(why);
      // Not even the harmless names before and after it are made, and nothing outside the tree.
      expect(listing(d)).toEqual(before);
      expect(fs.readdirSync(outside)).toEqual([]);
      expect(fs.existsSync(path.join(dir, 'escape'))).toBe(false);
      expect(fs.existsSync('/abs')).toBe(false);
    }
  });

  it('a top directory tar escaped cannot be regenerated, and says why', () => {
    const d = fresh();
    expect(() => createMissingFromManifest(Buffer.from('caf\\303\\251-1/\ncaf\\303\\251-1/x/\n'), d, ctx)).toThrow(
      /tar escaped that name/,
    );
  });
});
