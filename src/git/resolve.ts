import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { NotFoundError, PocketbuildError } from '../util/errors.js';
import { RepoReader, type RawObject } from './object-store.js';
import { assertRepoExists, corruptObject, isomorphicGitCode, repoLabel, shortOid } from './repo-errors.js';
import { lookupPath } from './tree.js';

// Everything below once lived in this module, object reading included; it is still
// importable from here so that no importer has to care where it moved.
export { RepoReader, type ObjectType, type RawObject } from './object-store.js';
export { repoLabel, shortOid } from './repo-errors.js';
export type { EntryKind, TreeEntry } from './tree.js';

const HEX_PREFIX = /^[0-9a-fA-F]{4,40}$/;

/** Follow annotated tags (possibly nested) to the object they name; null when something is missing. */
export async function peel(repo: RepoReader, oid: string): Promise<({ oid: string } & RawObject) | null> {
  let current = oid;
  // Tags of tags exist but long chains do not; the bound only stops a crafted loop.
  for (let hops = 0; hops < 32; hops++) {
    const obj = await repo.read(current);
    if (!obj) return null;
    if (obj.type !== 'tag') return { oid: current, ...obj };
    const m = /^object ([0-9a-f]{40})$/m.exec(obj.content.toString('latin1', 0, Math.min(obj.content.length, 200)));
    if (!m?.[1]) throw corruptObject(repo.gitdir, 'tag', current);
    current = m[1];
  }
  throw corruptObject(repo.gitdir, 'tag', oid, 'nests too deeply to resolve');
}

/** The commit an id denotes (tags peeled), failing clearly when it is missing or no commit. */
export async function readCommit(repo: RepoReader, oid: string): Promise<{ oid: string; content: Buffer }> {
  const target = await peel(repo, oid);
  if (target === null) {
    throw new NotFoundError(`commit ${shortOid(oid)} is not in ${repo.label}; did you push it?`, {
      gitdir: repo.gitdir,
      oid,
    });
  }
  if (target.type !== 'commit') {
    throw new PocketbuildError(
      'NotACommit',
      `object ${shortOid(oid)} in ${repo.label} is a ${target.type}, not a commit.`,
      {
        gitdir: repo.gitdir,
        oid,
        type: target.type,
      },
    );
  }
  return target;
}

/** The root tree of a commit, or the tree itself when given one (the `.id` of pristine-tar may be either). */
export async function rootTree(repo: RepoReader, oid: string): Promise<string> {
  const target = await peel(repo, oid);
  if (target?.type === 'tree') return target.oid;
  const commit = await readCommit(repo, oid);
  const m = /^tree ([0-9a-f]{40})$/m.exec(commit.content.toString('latin1', 0, Math.min(commit.content.length, 100)));
  if (!m?.[1]) throw corruptObject(repo.gitdir, 'commit', commit.oid);
  return m[1];
}

/** The parents a commit object names, from its header. */
function commitParents(gitdir: string, oid: string, content: Buffer): string[] {
  const end = content.indexOf('\n\n');
  const parents: string[] = [];
  for (const line of content.toString('latin1', 0, end === -1 ? content.length : end).split('\n')) {
    if (!line.startsWith('parent ')) continue;
    const m = /^parent ([0-9a-f]{40})$/.exec(line);
    if (!m?.[1]) throw corruptObject(gitdir, 'commit', oid, 'has a malformed parent line');
    parents.push(m[1]);
  }
  return parents;
}

/**
 * True when `name` is acceptable to `git check-ref-format` (simplified). Checked before any
 * lookup because isomorphic-git builds file paths from ref names, and a spec such as
 * `../../x` must not read files outside the repository.
 */
export function isValidRefName(name: string): boolean {
  if (name === '' || name === '@' || name.startsWith('/') || name.endsWith('/') || name.endsWith('.')) return false;
  if (name.includes('..') || name.includes('//') || name.includes('@{')) return false;
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  return name.split('/').every((c) => c !== '' && !c.startsWith('.') && !c.endsWith('.lock'));
}

/** Candidate full ref names for a short one, in the order `git rev-parse` tries them. */
function refCandidates(spec: string): string[] {
  if (spec === 'HEAD') return ['HEAD'];
  if (spec.startsWith('refs/')) return [spec];
  return [
    `refs/${spec}`,
    `refs/tags/${spec}`,
    `refs/heads/${spec}`,
    `refs/remotes/${spec}`,
    `refs/remotes/${spec}/HEAD`,
  ];
}

/**
 * The id a ref points at, following symbolic refs (HEAD) but not peeling annotated tags;
 * null when the ref does not exist. `ref` is a full name (`refs/heads/main`), `HEAD`, or a
 * short name expanded the way git does (tags before branches).
 */
export async function readRef(gitdir: string, ref: string): Promise<string | null> {
  if (!isValidRefName(ref)) {
    throw new PocketbuildError('BadRefName', `${JSON.stringify(ref)} is not a valid git ref name.`, { gitdir, ref });
  }
  for (const full of refCandidates(ref)) {
    try {
      return await git.resolveRef({ fs, gitdir, ref: full });
    } catch (e) {
      if (isomorphicGitCode(e) !== 'NotFoundError') throw e;
    }
  }
  await assertRepoExists(gitdir);
  return null;
}

/**
 * Resolve a user's revision to a commit id. `spec` may be a full id, a hex prefix of at least
 * four digits, or a ref (`main`, `refs/heads/x`, `v1.0`); annotated tags are peeled. As in
 * git, a name that is both a ref and a hex prefix means the ref, and a prefix shared by one
 * commit and some non-commits means that commit.
 */
export async function resolveCommit(gitdir: string, spec: string): Promise<string> {
  const repo = new RepoReader(gitdir);
  const isHex = HEX_PREFIX.test(spec);
  if (!isHex && !isValidRefName(spec)) {
    throw new PocketbuildError(
      'BadRevision',
      `${JSON.stringify(spec)} is neither a commit id nor a valid branch or tag name.`,
      {
        gitdir,
        spec,
      },
    );
  }
  let oid: string | null;
  if (spec.length === 40 && isHex) {
    oid = spec.toLowerCase();
  } else {
    oid = await readRef(gitdir, spec);
    if (oid === null && isHex) oid = await expandPrefix(repo, spec.toLowerCase());
    if (oid === null) {
      throw new NotFoundError(
        `there is no ${isHex ? 'commit, branch or tag' : 'branch or tag'} ${spec} in ${repo.label}; did you push it?`,
        {
          gitdir,
          spec,
        },
      );
    }
  }
  const target = await peel(repo, oid);
  if (target === null) {
    throw new NotFoundError(`commit ${shortOid(oid)} is not in ${repo.label}; did you push it?`, { gitdir, spec, oid });
  }
  if (target.type !== 'commit') {
    throw new PocketbuildError(
      'NotACommit',
      `${spec} names a ${target.type} in ${repo.label}, not a commit; give a commit id, branch or tag.`,
      {
        gitdir,
        spec,
        oid: target.oid,
        type: target.type,
      },
    );
  }
  return target.oid;
}

async function expandPrefix(repo: RepoReader, prefix: string): Promise<string | null> {
  const matches = await repo.expand(prefix);
  if (matches.length === 0) return null;
  if (matches.length === 1) return matches[0] ?? null;
  const commits: string[] = [];
  for (const m of matches) if ((await peel(repo, m))?.type === 'commit') commits.push(m);
  if (commits.length === 1) return commits[0] ?? null;
  throw ambiguousPrefixError(repo.gitdir, prefix, matches);
}

function ambiguousPrefixError(gitdir: string, prefix: string, candidates: string[]): PocketbuildError {
  const shown = candidates.map((c) => c.slice(0, Math.max(prefix.length + 2, 10))).join(', ');
  return new PocketbuildError(
    'AmbiguousRevision',
    `${prefix} matches ${candidates.length} objects in ${repoLabel(gitdir)} (${shown}); give more digits of the commit id.`,
    { gitdir, spec: prefix, candidates },
  );
}

/** The root tree id of a commit (annotated tags are peeled first). */
export async function treeOf(gitdir: string, commit: string): Promise<string> {
  const repo = new RepoReader(gitdir);
  await readCommit(repo, commit);
  return rootTree(repo, commit);
}

/**
 * The content of the regular file at `p` in `commit`, or null when nothing is there.
 * Symlinks are not followed: a symlink, directory or submodule at `p` is an error, since
 * handing back a link target as if it were the file would mislead every caller.
 */
export async function readBlobAt(gitdir: string, commit: string, p: string): Promise<Buffer | null> {
  const repo = new RepoReader(gitdir);
  await readCommit(repo, commit);
  const entry = await lookupPath(repo, await rootTree(repo, commit), p);
  if (entry === null) return null;
  if (entry.kind !== 'file' && entry.kind !== 'exec') {
    const what = entry.kind === 'tree' ? 'a directory' : entry.kind === 'symlink' ? 'a symlink' : 'a submodule';
    throw new PocketbuildError(
      'NotARegularFile',
      `${p} in commit ${shortOid(commit)} of ${repo.label} is ${what}, not a regular file.`,
      {
        gitdir,
        commit,
        path: p,
        kind: entry.kind,
      },
    );
  }
  const obj = await repo.read(entry.oid);
  if (!obj || obj.type !== 'blob') {
    throw new PocketbuildError(
      'CorruptObject',
      `${p} in commit ${shortOid(commit)} of ${repo.label} cannot be read; run git fsck on the repository.`,
      {
        gitdir,
        commit,
        path: p,
        oid: entry.oid,
      },
    );
  }
  return obj.content;
}

/**
 * True when `commit` is `ancestor` itself or descends from it — the test for "is this push
 * a fast-forward of what we built before". Both must be commits present in the repository.
 * The walk reads commits through {@link RepoReader} rather than isomorphic-git, whose reader
 * takes a pushed pack's deltas on trust.
 */
export async function isDescendant(gitdir: string, commit: string, ancestor: string): Promise<boolean> {
  const repo = new RepoReader(gitdir);
  const oid = (await readCommit(repo, commit)).oid;
  const base = (await readCommit(repo, ancestor)).oid;
  if (oid === base) return true;
  // The parents of a shallow commit were never fetched: the history ends there.
  const shallow = new Set(
    (await fs.promises.readFile(path.join(gitdir, 'shallow'), 'latin1').catch(() => ''))
      .split('\n')
      .filter((l) => l !== ''),
  );
  // Breadth first, each commit once, so that it ends on any history, even a crafted one.
  const queue = [oid];
  const seen = new Set(queue);
  for (let i = 0; i < queue.length; i++) {
    const current = queue[i]!;
    const obj = await repo.read(current);
    if (obj === null) {
      // A shallow or damaged history can name parents that are not here.
      throw new NotFoundError(
        `the history of ${shortOid(oid)} in ${repo.label} is incomplete; run git fsck on the repository.`,
        {
          gitdir,
          commit,
          ancestor,
        },
      );
    }
    if (obj.type !== 'commit')
      throw corruptObject(gitdir, 'object', current, `is a ${obj.type} named as a parent commit`);
    for (const parent of commitParents(gitdir, current, obj.content)) {
      if (parent === base) return true;
      if (!shallow.has(current) && !seen.has(parent)) {
        seen.add(parent);
        queue.push(parent);
      }
    }
  }
  return false;
}
