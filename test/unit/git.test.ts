import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportTree } from '../../src/git/export.js';
import { findPristineTarballs } from '../../src/git/pristine-tar.js';
import { createTag, moveBranch } from '../../src/git/refs.js';
import { isDescendant, readBlobAt, readRef, resolveCommit, treeOf } from '../../src/git/resolve.js';
import { ExitCode, PocketbuildError } from '../../src/util/errors.js';
import { reproducibleGitEnv } from '../helpers/git-env.js';

let tmp: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-git-'));
  env = reproducibleGitEnv(tmp);
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function git(cwd: string, args: string[], input?: string | Buffer): string {
  const r = spawnSync('git', ['-c', 'init.defaultBranch=main', '-c', 'core.symlinks=true', ...args], {
    cwd,
    env,
    input,
    encoding: 'buffer',
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

function hashObject(gitdir: string, type: string, content: Buffer): string {
  return git(gitdir, ['hash-object', '-w', '--literally', '-t', type, '--stdin'], content);
}

/** A tree built byte by byte, so it can hold entries git itself would refuse. */
function rawTree(gitdir: string, entries: { mode: string; name: string | Buffer; oid: string }[]): string {
  const parts = entries.map((e) =>
    Buffer.concat([Buffer.from(`${e.mode} `), Buffer.from(e.name), Buffer.from([0]), Buffer.from(e.oid, 'hex')]),
  );
  return hashObject(gitdir, 'tree', Buffer.concat(parts));
}

function commitTree(gitdir: string, tree: string, message = 'test', parents: string[] = []): string {
  return git(gitdir, ['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-m', message]);
}

interface Fixture {
  gitdir: string;
  c1: string;
  c2: string;
}

/** hello.git: two commits on main, tags v1 (lightweight) and v1-annotated on the first. */
function makeRepo(): Fixture {
  const gitdir = path.join(tmp, 'hello.git');
  const work = path.join(tmp, 'work');
  git(tmp, ['init', '-q', '--bare', gitdir]);
  git(tmp, ['init', '-q', work]);
  const write = (rel: string, content: string | Buffer, mode = 0o644) => {
    const file = path.join(work, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    fs.chmodSync(file, mode);
  };
  write('README', 'hello\n');
  write(
    'debian/changelog',
    'hello (1.0-1) unstable; urgency=medium\n\n  * Initial.\n\n -- T <t@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n',
  );
  write('debian/rules', '#!/usr/bin/make -f\n%:\n\tdh $@\n', 0o755);
  write('bin/tool', '#!/bin/sh\necho hi\n', 0o755);
  write('src/a/b/c/deep.txt', 'deep\n');
  write('src/main.c', 'int main(void) { return 0; }\n');
  write('empty', '');
  write('dir with space/ünïcødé file ☃.txt', 'unicode\n');
  write('binary.bin', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)));
  fs.symlinkSync('../../etc/passwd', path.join(work, 'link-out'));
  fs.symlinkSync('rules', path.join(work, 'debian/link-in'));
  git(work, ['add', '-A']);
  // An uninitialised submodule: only a gitlink in the tree.
  git(work, ['update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},vendor/sub`]);
  git(work, ['commit', '-q', '-m', 'first']);
  const c1 = git(work, ['rev-parse', 'HEAD']);
  git(work, ['tag', 'v1']);
  git(work, ['tag', '-a', '-m', 'annotated', 'v1-annotated']);
  write('README', 'hello again\n');
  git(work, ['commit', '-q', '-am', 'second']);
  const c2 = git(work, ['rev-parse', 'HEAD']);
  git(work, ['push', '-q', gitdir, 'main', '--tags']);
  return { gitdir, c1, c2 };
}

interface Node {
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  data?: string;
}

function snapshot(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out.set(r, { type: 'symlink', mode: st.mode & 0o7777, data: fs.readlinkSync(p) });
      else if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode: st.mode & 0o7777 });
        walk(p, r);
      } else out.set(r, { type: 'file', mode: st.mode & 0o7777, data: fs.readFileSync(p).toString('base64') });
    }
  };
  walk(root, '');
  return out;
}

/** What `git archive | tar -x` makes of `treeish`, with modes as git records them. */
function archive(gitdir: string, treeish: string, dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  const r = spawnSync(
    'sh',
    ['-c', 'git -c tar.umask=022 --git-dir="$1" archive "$2" | tar -xpf - -C "$3"', 'sh', gitdir, treeish, dest],
    { env },
  );
  if (r.status !== 0) throw new Error(`git archive | tar: ${r.stderr.toString()}`);
}

async function expectError(p: Promise<unknown>, code: string, message?: RegExp): Promise<PocketbuildError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PocketbuildError);
    const err = e as PocketbuildError;
    expect(err.code).toBe(code);
    if (message) expect(err.message).toMatch(message);
    return err;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

describe('exportTree', () => {
  it('writes exactly what git archive | tar -x writes: bytes, modes, symlinks, empty and unicode files', async () => {
    const { gitdir, c1 } = makeRepo();
    const ours = path.join(tmp, 'ours');
    const theirs = path.join(tmp, 'theirs');
    const { files } = await exportTree(gitdir, c1, ours);
    archive(gitdir, c1, theirs);
    const a = snapshot(ours);
    expect(a).toEqual(snapshot(theirs));
    expect(files).toBe([...a.values()].filter((n) => n.type !== 'dir').length);
    expect(a.get('debian/rules')?.mode).toBe(0o755);
    expect(a.get('README')?.mode).toBe(0o644);
    expect(a.get('empty')).toEqual({ type: 'file', mode: 0o644, data: '' });
    expect(a.get('link-out')).toMatchObject({ type: 'symlink', data: '../../etc/passwd' });
    expect(a.get('dir with space/ünïcødé file ☃.txt')?.type).toBe('file');
    expect(a.get('vendor/sub')).toEqual({ type: 'dir', mode: 0o755 });
    expect(a.has('.git')).toBe(false);
  });

  it('reads packed repositories, with offset and ref deltas, the same way', async () => {
    const { gitdir } = makeRepo();
    const work = path.join(tmp, 'work');
    // Many small edits of one big file give long delta chains once repacked.
    const big = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`);
    for (let round = 0; round < 30; round++) {
      big[round * 50] = `edited in round ${round}\n`;
      fs.writeFileSync(path.join(work, 'big.txt'), big.join(''));
      fs.writeFileSync(path.join(work, `src/gen-${round}.c`), `int f${round};\n`);
      git(work, ['add', '-A']);
      git(work, ['commit', '-q', '-m', `round ${round}`]);
    }
    git(work, ['push', '-q', gitdir, 'main']);
    const head = git(gitdir, ['rev-parse', 'main']);
    const older = git(gitdir, ['rev-parse', 'main~17']);
    for (const [variant, config] of [
      ['ofs', 'repack.useDeltaBaseOffset=true'],
      ['ref', 'repack.useDeltaBaseOffset=false'],
    ] as const) {
      git(gitdir, ['-c', config, 'repack', '-q', '-a', '-d', '-f', '--depth=50', '--window=50']);
      const loose = fs.readdirSync(path.join(gitdir, 'objects')).filter((d) => /^[0-9a-f]{2}$/.test(d));
      expect(loose.flatMap((d) => fs.readdirSync(path.join(gitdir, 'objects', d)))).toEqual([]);
      const pack = fs.readdirSync(path.join(gitdir, 'objects/pack')).find((n) => n.endsWith('.idx'))!;
      const verify = git(gitdir, ['verify-pack', '-v', path.join('objects/pack', pack)]);
      expect(verify).toMatch(/chain length = [2-9]/);
      for (const commit of [head, older]) {
        const ours = path.join(tmp, `ours-${variant}-${commit}`);
        const theirs = path.join(tmp, `theirs-${variant}-${commit}`);
        await exportTree(gitdir, commit, ours);
        archive(gitdir, commit, theirs);
        expect(snapshot(ours)).toEqual(snapshot(theirs));
      }
    }
  });

  it('exports a subtree with prefix, a bare tree id, and an annotated tag', async () => {
    const { gitdir, c1 } = makeRepo();
    await exportTree(gitdir, c1, path.join(tmp, 'sub'), { prefix: 'src/' });
    archive(gitdir, `${c1}:src`, path.join(tmp, 'sub-theirs'));
    expect(snapshot(path.join(tmp, 'sub'))).toEqual(snapshot(path.join(tmp, 'sub-theirs')));

    const tree = git(gitdir, ['rev-parse', `${c1}^{tree}`]);
    await exportTree(gitdir, tree, path.join(tmp, 'tree'));
    const tag = git(gitdir, ['rev-parse', 'refs/tags/v1-annotated']);
    await exportTree(gitdir, tag, path.join(tmp, 'tag'));
    archive(gitdir, c1, path.join(tmp, 'theirs'));
    expect(snapshot(path.join(tmp, 'tree'))).toEqual(snapshot(path.join(tmp, 'theirs')));
    expect(snapshot(path.join(tmp, 'tag'))).toEqual(snapshot(path.join(tmp, 'theirs')));

    await expectError(
      exportTree(gitdir, c1, path.join(tmp, 'x'), { prefix: 'README' }),
      'NotFoundError',
      /README is not a directory/,
    );
    await expectError(exportTree(gitdir, c1, path.join(tmp, 'y'), { prefix: 'nope' }), 'NotFoundError');
    await expectError(exportTree(gitdir, c1, path.join(tmp, 'z'), { prefix: '../src' }), 'BadPath');
  });

  it('accepts an empty destination and refuses a non-empty one or a file', async () => {
    const { gitdir, c1 } = makeRepo();
    const empty = path.join(tmp, 'empty-dest');
    fs.mkdirSync(empty);
    await exportTree(gitdir, c1, empty);
    expect(fs.readFileSync(path.join(empty, 'README'), 'utf8')).toBe('hello\n');
    await expectError(exportTree(gitdir, c1, empty), 'DestinationNotEmpty', /is not empty/);
    fs.writeFileSync(path.join(tmp, 'file'), '');
    await expectError(exportTree(gitdir, c1, path.join(tmp, 'file')), 'DestinationNotEmpty');
  });

  it('treats legacy 100664 entries as ordinary files', async () => {
    const { gitdir } = makeRepo();
    const blob = hashObject(gitdir, 'blob', Buffer.from('old\n'));
    const commit = commitTree(gitdir, rawTree(gitdir, [{ mode: '100664', name: 'old.txt', oid: blob }]));
    await exportTree(gitdir, commit, path.join(tmp, 'out'));
    const st = fs.lstatSync(path.join(tmp, 'out/old.txt'));
    expect(st.mode & 0o7777).toBe(0o644);
  });

  it('exports the empty tree, which git never needs to store', async () => {
    const { gitdir } = makeRepo();
    const commit = commitTree(gitdir, '4b825dc642cb6eb9a060e54bf8d69288fbee4904', 'empty');
    expect(await exportTree(gitdir, commit, path.join(tmp, 'out'))).toEqual({ files: 0 });
    expect(fs.readdirSync(path.join(tmp, 'out'))).toEqual([]);
  });

  it('reports a damaged object instead of exporting garbage', async () => {
    const { gitdir, c1 } = makeRepo();
    const blob = git(gitdir, ['rev-parse', `${c1}:README`]);
    const file = path.join(gitdir, 'objects', blob.slice(0, 2), blob.slice(2));
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(file, 'not zlib');
    const dest = path.join(tmp, 'out');
    await expectError(exportTree(gitdir, c1, dest), 'CorruptObject', /run git fsck/);
    expect(fs.existsSync(dest)).toBe(false);
  });

  describe('refuses trees that could write outside the destination', () => {
    const outside = () => path.join(tmp, 'outside');
    const cases: [
      string,
      (gitdir: string, evil: string, evilTree: string) => { mode: string; name: string; oid: string }[],
    ][] = [
      ['..', (_g, _e, t) => [{ mode: '40000', name: '..', oid: t }]],
      ['.', (_g, _e, t) => [{ mode: '40000', name: '.', oid: t }]],
      ['.git', (_g, e) => [{ mode: '100644', name: '.git', oid: e }]],
      ['.GIT', (_g, _e, t) => [{ mode: '40000', name: '.GIT', oid: t }]],
      ['a slash', (_g, e) => [{ mode: '100644', name: '../outside/evil', oid: e }]],
      [
        'a symlink and a directory of one name',
        (g, e) => [
          { mode: '120000', name: 'x', oid: hashObject(g, 'blob', Buffer.from(outside())) },
          { mode: '40000', name: 'x', oid: rawTree(g, [{ mode: '100644', name: 'evil', oid: e }]) },
        ],
      ],
    ];
    for (const [what, entries] of cases) {
      it(what, async () => {
        const { gitdir } = makeRepo();
        fs.mkdirSync(outside());
        const evil = hashObject(gitdir, 'blob', Buffer.from('pwned\n'));
        // Inside `..` goes a tree holding outside/evil, so a naive export would land there.
        const evilTree = rawTree(gitdir, [
          { mode: '100644', name: 'evil', oid: evil },
          { mode: '40000', name: 'outside', oid: rawTree(gitdir, [{ mode: '100644', name: 'evil', oid: evil }]) },
        ]);
        const readme = hashObject(gitdir, 'blob', Buffer.from('fine\n'));
        const tree = rawTree(gitdir, [
          { mode: '100644', name: 'README', oid: readme },
          ...entries(gitdir, evil, evilTree),
        ]);
        const commit = commitTree(gitdir, tree);
        const dest = path.join(tmp, 'out', 'dest');
        const err = await expectError(exportTree(gitdir, commit, dest), 'UnsafeTreeEntry', /nothing was exported/);
        expect(err.data).toMatchObject({ commit });
        expect(fs.readdirSync(outside())).toEqual([]);
        expect(fs.existsSync(dest)).toBe(false);
        expect(fs.readdirSync(path.join(tmp, 'out'))).toEqual([]);
        expect(fs.existsSync(path.join(tmp, 'evil'))).toBe(false);
      });
    }

    it('and cleans an existing empty destination after a refusal', async () => {
      const { gitdir } = makeRepo();
      const blob = hashObject(gitdir, 'blob', Buffer.from('x\n'));
      const sub = rawTree(gitdir, [
        { mode: '100644', name: 'ok', oid: blob },
        { mode: '100644', name: '.Git', oid: blob },
      ]);
      const commit = commitTree(
        gitdir,
        rawTree(gitdir, [
          { mode: '100644', name: 'a', oid: blob },
          { mode: '40000', name: 'sub', oid: sub },
        ]),
      );
      const dest = path.join(tmp, 'dest');
      fs.mkdirSync(dest);
      await expectError(exportTree(gitdir, commit, dest), 'UnsafeTreeEntry', /"\.Git" in sub/);
      expect(fs.readdirSync(dest)).toEqual([]);
    });
  });
});

describe('resolveCommit', () => {
  it('resolves full ids, prefixes, branches and tags, peeling annotated tags', async () => {
    const { gitdir, c1, c2 } = makeRepo();
    expect(await resolveCommit(gitdir, c2)).toBe(c2);
    expect(await resolveCommit(gitdir, c2.toUpperCase())).toBe(c2);
    expect(await resolveCommit(gitdir, c1.slice(0, 7))).toBe(c1);
    expect(await resolveCommit(gitdir, 'main')).toBe(c2);
    expect(await resolveCommit(gitdir, 'refs/heads/main')).toBe(c2);
    expect(await resolveCommit(gitdir, 'HEAD')).toBe(c2);
    expect(await resolveCommit(gitdir, 'v1')).toBe(c1);
    expect(await resolveCommit(gitdir, 'v1-annotated')).toBe(c1);
    expect(await resolveCommit(gitdir, 'refs/tags/v1-annotated')).toBe(c1);
    const tagObject = git(gitdir, ['rev-parse', 'refs/tags/v1-annotated']);
    expect(tagObject).not.toBe(c1);
    expect(await resolveCommit(gitdir, tagObject)).toBe(c1);
  });

  it('refuses trees, blobs, unknown names, bad names and missing repositories clearly', async () => {
    const { gitdir, c1 } = makeRepo();
    const tree = git(gitdir, ['rev-parse', `${c1}^{tree}`]);
    const blob = git(gitdir, ['rev-parse', `${c1}:README`]);
    await expectError(resolveCommit(gitdir, tree), 'NotACommit', /names a tree in hello\.git, not a commit/);
    await expectError(resolveCommit(gitdir, blob.slice(0, 10)), 'NotACommit', /a blob/);
    await expectError(
      resolveCommit(gitdir, 'nosuch'),
      'NotFoundError',
      /^there is no branch or tag nosuch in hello\.git; did you push it\?$/,
    );
    await expectError(
      resolveCommit(gitdir, 'f'.repeat(40)),
      'NotFoundError',
      /^commit fffffff is not in hello\.git; did you push it\?$/,
    );
    await expectError(resolveCommit(gitdir, '../../../etc/passwd'), 'BadRevision');
    await expectError(resolveCommit(gitdir, 'a b'), 'BadRevision');
    // The code and words of a submit naming the package, and no server path.
    const err = await expectError(
      resolveCommit(path.join(tmp, 'nope.git'), 'main'),
      'UnknownPackage',
      /^unknown package nope: there is no repository nope\.git on this builder; /,
    );
    expect(err.exitCode).toBe(ExitCode.notFound);
    expect(err.message).not.toContain(tmp);
  });

  it('says when a prefix matches nothing', async () => {
    const { gitdir } = makeRepo();
    const all = new Set(
      git(gitdir, ['cat-file', '--batch-all-objects', '--batch-check=%(objectname)'])
        .split('\n')
        .map((l) => l.slice(0, 6)),
    );
    let unused = 0;
    while (all.has(unused.toString(16).padStart(6, '0'))) unused++;
    const prefix = unused.toString(16).padStart(6, '0');
    await expectError(
      resolveCommit(gitdir, prefix),
      'NotFoundError',
      new RegExp(`no commit, branch or tag ${prefix} in hello\\.git`),
    );
  });

  it('lists the candidates of an ambiguous prefix, but prefers the only commit among them', async () => {
    const { gitdir, c1 } = makeRepo();
    const sha = (type: string, body: string) =>
      createHash('sha1')
        .update(`${type} ${Buffer.byteLength(body)}\0${body}`)
        .digest('hex');
    // Two blobs sharing four hex digits: the birthday bound makes this a few hundred tries.
    const seen = new Map<string, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const body = `blob ${i}\n`;
      const p = sha('blob', body).slice(0, 4);
      const other = seen.get(p);
      if (other !== undefined) pair = [other, body];
      else seen.set(p, body);
    }
    const a = hashObject(gitdir, 'blob', Buffer.from(pair[0]));
    const b = hashObject(gitdir, 'blob', Buffer.from(pair[1]));
    const prefix = a.slice(0, 4);
    expect(b.slice(0, 4)).toBe(prefix);
    const err = await expectError(resolveCommit(gitdir, prefix), 'AmbiguousRevision', /give more digits/);
    expect(err.message).toContain(a.slice(0, 10));
    expect(err.message).toContain(b.slice(0, 10));
    expect((err.data.candidates as string[]).sort()).toEqual([a, b].sort());

    // A commit whose id shares four digits with one of these blobs wins, as in git.
    const tree = git(gitdir, ['rev-parse', `${c1}^{tree}`]);
    const prefixes = new Map([...seen].map(([p, body]) => [p, body]));
    for (let j = 0; ; j++) {
      const body = `tree ${tree}\nauthor T <t@example.org> 0 +0000\ncommitter T <t@example.org> 0 +0000\n\nattempt ${j}\n`;
      const p = sha('commit', body).slice(0, 4);
      const blobBody = prefixes.get(p);
      if (blobBody === undefined || p === prefix) continue;
      const commit = hashObject(gitdir, 'commit', Buffer.from(body));
      const blob2 = hashObject(gitdir, 'blob', Buffer.from(blobBody));
      expect(blob2.slice(0, 4)).toBe(p);
      expect(await resolveCommit(gitdir, p)).toBe(commit);
      break;
    }
  });

  it('prefers a ref over a hex prefix of the same spelling', async () => {
    const { gitdir, c1, c2 } = makeRepo();
    const name = c2.slice(0, 6);
    git(gitdir, ['tag', name, c1]);
    expect(await resolveCommit(gitdir, name)).toBe(c1);
  });
});

describe('reading commits', () => {
  it('readBlobAt returns files, null for absent paths, and refuses directories and symlinks', async () => {
    const { gitdir, c1, c2 } = makeRepo();
    expect((await readBlobAt(gitdir, c1, 'README'))?.toString()).toBe('hello\n');
    expect((await readBlobAt(gitdir, c2, 'README'))?.toString()).toBe('hello again\n');
    expect((await readBlobAt(gitdir, c1, 'debian/changelog'))?.toString()).toMatch(/^hello \(1\.0-1\)/);
    expect((await readBlobAt(gitdir, c1, 'empty'))?.length).toBe(0);
    expect(await readBlobAt(gitdir, c1, 'debian/nope')).toBeNull();
    expect(await readBlobAt(gitdir, c1, 'nope/changelog')).toBeNull();
    expect(await readBlobAt(gitdir, c1, 'README/x')).toBeNull();
    await expectError(readBlobAt(gitdir, c1, 'debian'), 'NotARegularFile', /is a directory/);
    await expectError(readBlobAt(gitdir, c1, 'link-out'), 'NotARegularFile', /is a symlink/);
    await expectError(readBlobAt(gitdir, c1, '../x'), 'BadPath');
    await expectError(readBlobAt(gitdir, 'e'.repeat(40), 'README'), 'NotFoundError', /did you push it/);
  });

  it('treeOf gives the root tree', async () => {
    const { gitdir, c1 } = makeRepo();
    expect(await treeOf(gitdir, c1)).toBe(git(gitdir, ['rev-parse', `${c1}^{tree}`]));
  });

  it('isDescendant is true for descendants and the commit itself, false otherwise', async () => {
    const { gitdir, c1, c2 } = makeRepo();
    const orphan = commitTree(gitdir, git(gitdir, ['rev-parse', `${c1}^{tree}`]), 'orphan');
    const child = commitTree(gitdir, git(gitdir, ['rev-parse', `${c1}^{tree}`]), 'child', [c2]);
    expect(await isDescendant(gitdir, c2, c1)).toBe(true);
    expect(await isDescendant(gitdir, child, c1)).toBe(true);
    expect(await isDescendant(gitdir, c1, c1)).toBe(true);
    expect(await isDescendant(gitdir, c1, c2)).toBe(false);
    expect(await isDescendant(gitdir, orphan, c1)).toBe(false);
    expect(await isDescendant(gitdir, c1, orphan)).toBe(false);
    await expectError(isDescendant(gitdir, 'd'.repeat(40), c1), 'NotFoundError');
  });

  it('readRef returns unpeeled ids and null for absent refs', async () => {
    const { gitdir, c2 } = makeRepo();
    expect(await readRef(gitdir, 'refs/heads/main')).toBe(c2);
    expect(await readRef(gitdir, 'main')).toBe(c2);
    expect(await readRef(gitdir, 'HEAD')).toBe(c2);
    expect(await readRef(gitdir, 'refs/tags/v1-annotated')).toBe(git(gitdir, ['rev-parse', 'refs/tags/v1-annotated']));
    expect(await readRef(gitdir, 'refs/heads/nope')).toBeNull();
    git(gitdir, ['pack-refs', '--all']);
    expect(await readRef(gitdir, 'refs/heads/main')).toBe(c2);
    await expectError(readRef(gitdir, 'refs/../config'), 'BadRefName');
  });
});

describe('refs', () => {
  it('moveBranch force-moves and creates branches, visible to git', async () => {
    const { gitdir, c1, c2 } = makeRepo();
    git(gitdir, ['pack-refs', '--all']);
    await moveBranch(gitdir, 'main', c1);
    expect(git(gitdir, ['rev-parse', 'refs/heads/main'])).toBe(c1);
    await moveBranch(gitdir, 'release/1.0', c2);
    expect(git(gitdir, ['rev-parse', 'refs/heads/release/1.0'])).toBe(c2);
    await moveBranch(gitdir, 'refs/heads/main', c2);
    expect(git(gitdir, ['rev-parse', 'main'])).toBe(c2);
    expect(git(gitdir, ['fsck', '--no-dangling'])).toBe('');
    expect(fs.readdirSync(path.join(gitdir, 'refs/heads')).filter((n) => n.endsWith('.lock'))).toEqual([]);

    await expectError(moveBranch(gitdir, 'a..b', c1), 'BadRefName');
    await expectError(moveBranch(gitdir, '-x', c1), 'BadRefName');
    await expectError(moveBranch(gitdir, 'main', git(gitdir, ['rev-parse', `${c1}^{tree}`])), 'NotACommit');
    await expectError(moveBranch(gitdir, 'main', 'c'.repeat(40)), 'NotFoundError', /did you push it/);
    await expectError(moveBranch(gitdir, 'main', 'main'), 'BadRevision');
    await expectError(moveBranch(gitdir, 'release/1.0/x', c1), 'RefConflict');
    await expectError(moveBranch(gitdir, 'release', c1), 'RefConflict');
    expect(git(gitdir, ['rev-parse', 'main'])).toBe(c2);
  });

  it('moveBranch respects a lock held by git', async () => {
    const { gitdir, c1, c2 } = makeRepo();
    fs.writeFileSync(path.join(gitdir, 'refs/heads/main.lock'), '');
    const locked = await expectError(moveBranch(gitdir, 'main', c1), 'RefLocked', /being updated by another process/);
    // The reason lands in result.json, which remote users read: the ref, not the server path.
    expect(locked.message).toContain('refs/heads/main.lock in hello.git');
    expect(locked.message).not.toContain(gitdir);
    expect(git(gitdir, ['rev-parse', 'main'])).toBe(c2);
    expect(fs.existsSync(path.join(gitdir, 'refs/heads/main.lock'))).toBe(true);
  });

  it('createTag creates lightweight tags, is idempotent, and refuses to move one', async () => {
    const { gitdir, c1, c2 } = makeRepo();
    await createTag(gitdir, 'build/1.0-1', c1);
    expect(git(gitdir, ['rev-parse', 'refs/tags/build/1.0-1'])).toBe(c1);
    expect(git(gitdir, ['cat-file', '-t', 'refs/tags/build/1.0-1'])).toBe('commit');
    await createTag(gitdir, 'build/1.0-1', c1);
    await createTag(gitdir, 'v1-annotated', c1);
    const err = await expectError(
      createTag(gitdir, 'build/1.0-1', c2),
      'TagExists',
      /already exists in hello\.git and points at/,
    );
    expect(err.exitCode).toBe(ExitCode.conflict);
    await expectError(createTag(gitdir, 'v1-annotated', c2), 'TagExists');
    expect(git(gitdir, ['rev-parse', 'refs/tags/build/1.0-1'])).toBe(c1);
  });
});

describe('findPristineTarballs', () => {
  function pristineBranch(gitdir: string, files: Record<string, Buffer>): void {
    const entries = Object.entries(files).map(([name, data]) => ({
      mode: '100644',
      name,
      oid: hashObject(gitdir, 'blob', data),
    }));
    entries.sort((x, y) => (x.name < y.name ? -1 : 1));
    git(gitdir, [
      'update-ref',
      'refs/heads/pristine-tar',
      commitTree(gitdir, rawTree(gitdir, entries), 'pristine-tar data'),
    ]);
  }

  it('finds the delta and id of a stored tarball, and null when there is none', async () => {
    const { gitdir, c1 } = makeRepo();
    expect(await findPristineTarballs(gitdir, 'hello', '1.0')).toEqual([]);
    const tree = git(gitdir, ['rev-parse', `${c1}^{tree}`]);
    const delta = Buffer.from(Array.from({ length: 500 }, (_, i) => (i * 31) % 256));
    pristineBranch(gitdir, {
      'hello_1.0.orig.tar.xz.delta': delta,
      'hello_1.0.orig.tar.xz.id': Buffer.from(`${tree}\n`),
      'hello_0.9.orig.tar.gz.delta': Buffer.from('d'),
      'hello_0.9.orig.tar.gz.id': Buffer.from(`${c1}\n`),
    });
    expect(await findPristineTarballs(gitdir, 'hello', '1.0')).toEqual([
      { tarball: 'hello_1.0.orig.tar.xz', delta, id: tree },
    ]);
    expect(await findPristineTarballs(gitdir, 'hello', '0.9')).toMatchObject([
      { tarball: 'hello_0.9.orig.tar.gz', id: c1 },
    ]);
    expect(await findPristineTarballs(gitdir, 'hello', '2.0')).toEqual([]);
    expect(await findPristineTarballs(gitdir, 'other', '1.0')).toEqual([]);
    await expectError(findPristineTarballs(gitdir, '../hello', '1.0'), 'BadPristineTarName');
  });

  it('reports half-stored entries and upstream ids the repository lacks', async () => {
    const { gitdir } = makeRepo();
    pristineBranch(gitdir, {
      'hello_1.0.orig.tar.gz.delta': Buffer.from('d'),
      'hello_2.0.orig.tar.gz.delta': Buffer.from('d'),
      'hello_2.0.orig.tar.gz.id': Buffer.from(`${'b'.repeat(40)}\n`),
      'hello_3.0.orig.tar.gz.delta': Buffer.from('d'),
      'hello_3.0.orig.tar.gz.id': Buffer.from('not an id\n'),
    });
    await expectError(
      findPristineTarballs(gitdir, 'hello', '1.0'),
      'BrokenPristineTar',
      /has hello_1\.0\.orig\.tar\.gz\.delta but no hello_1\.0\.orig\.tar\.gz\.id/,
    );
    await expectError(
      findPristineTarballs(gitdir, 'hello', '2.0'),
      'NotFoundError',
      /upstream bbbbbbb, which is not in the repository/,
    );
    await expectError(findPristineTarballs(gitdir, 'hello', '3.0'), 'BrokenPristineTar');
  });
});
