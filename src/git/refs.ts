import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '../util/fs-atomic.js';
import { NotFoundError, PocketbuildError, ConflictError } from '../util/errors.js';
import { run } from '../util/run.js';
import { RepoReader } from './object-store.js';
import { missingRepo, shortOid } from './repo-errors.js';
import { isValidRefName, peel, readRef } from './resolve.js';

/**
 * Point `refs/heads/<branch>` at `commit`, whatever it pointed at before (creating it if
 * needed). `commit` must be the full id of a commit in the repository.
 */
export async function moveBranch(gitdir: string, branch: string, commit: string): Promise<void> {
  const full = fullRefName(gitdir, 'branch', 'refs/heads/', branch);
  await requireCommit(gitdir, commit);
  await withRefLock(gitdir, full, async () => commit);
}

/**
 * Delete `refs/heads/<branch>` if it points at `expected` (a pocket whose package was
 * withdrawn publishes nothing, so its branch goes too). git itself does it: the ref may be
 * packed, and `update-ref -d` with the old value fails rather than delete a branch that moved.
 */
export async function deleteBranch(gitdir: string, branch: string, expected: string): Promise<void> {
  const full = fullRefName(gitdir, 'branch', 'refs/heads/', branch);
  const r = await run(
    ['git', '-c', `safe.directory=${gitdir}`, '--git-dir', gitdir, 'update-ref', '-d', full, expected],
    { timeoutMs: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', HOME: '/nonexistent' } },
  );
  if (r.code !== 0)
    throw new PocketbuildError(
      'RefLocked',
      `${full} in ${path.basename(gitdir)} could not be deleted (${r.stderr.trim().split('\n')[0] ?? r.how}); retry.`,
      { gitdir, ref: full },
    );
}

/**
 * Create the lightweight tag `refs/tags/<name>` for `commit`. A tag that already names this
 * commit (directly, or as an annotated tag of it) is left alone; one naming anything else is
 * refused with `TagExists`, since tags are what published versions are traced back to.
 */
export async function createTag(gitdir: string, name: string, commit: string): Promise<void> {
  const full = fullRefName(gitdir, 'tag', 'refs/tags/', name);
  const repo = await requireCommit(gitdir, commit);
  const decide = async (current: string | null): Promise<string | null> => {
    if (current === null) return commit;
    if (current === commit) return null;
    const other = await peel(repo, current);
    if (other?.oid === commit) return null;
    throw new ConflictError(
      'TagExists',
      `tag ${full.slice('refs/tags/'.length)} already exists in ${repo.label} and points at ${shortOid(other?.oid ?? current)}, not ${shortOid(commit)}; delete the tag or pick another name.`,
      { gitdir, tag: full, existing: current, commit },
    );
  };
  // Checked before locking too, so that the common repeat of a finished job takes no lock.
  if ((await decide(await readRef(gitdir, full))) === null) return;
  await withRefLock(gitdir, full, decide);
}

function fullRefName(gitdir: string, what: string, prefix: string, name: string): string {
  const short = name.startsWith(prefix) ? name.slice(prefix.length) : name;
  if (!isValidRefName(short) || short.startsWith('-') || short === 'HEAD') {
    throw new PocketbuildError('BadRefName', `${JSON.stringify(name)} is not a valid ${what} name.`, { gitdir, name });
  }
  return prefix + short;
}

async function requireCommit(gitdir: string, commit: string): Promise<RepoReader> {
  if (!/^[0-9a-f]{40}$/.test(commit)) {
    throw new PocketbuildError(
      'BadRevision',
      `${JSON.stringify(commit)} is not a full commit id; resolve it with resolveCommit first.`,
      {
        gitdir,
        commit,
      },
    );
  }
  const repo = new RepoReader(gitdir);
  const obj = await repo.read(commit);
  if (obj === null) {
    throw new NotFoundError(`commit ${shortOid(commit)} is not in ${repo.label}; did you push it?`, { gitdir, commit });
  }
  if (obj.type !== 'commit') {
    throw new PocketbuildError(
      'NotACommit',
      `object ${shortOid(commit)} in ${repo.label} is a ${obj.type}, not a commit.`,
      {
        gitdir,
        commit,
        type: obj.type,
      },
    );
  }
  return repo;
}

/**
 * Update one loose ref the way git does: take `<ref>.lock` exclusively (so concurrent git
 * processes and we exclude each other), ask `decide` for the new value given the current
 * one (null: leave it), write and fsync the lock file, then rename it over the ref.
 */
async function withRefLock(
  gitdir: string,
  full: string,
  decide: (current: string | null) => Promise<string | null>,
): Promise<void> {
  const file = path.join(gitdir, full);
  const lock = `${file}.lock`;
  const label = path.basename(path.resolve(gitdir));
  try {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new PocketbuildError(
        'RefConflict',
        `${full} cannot be created in ${label} because a ref named like one of its parent directories exists.`,
        {
          gitdir,
          ref: full,
        },
      );
    }
    throw e;
  }
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(lock, 'wx', 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new PocketbuildError(
        'RefLocked',
        `${full} in ${label} is being updated by another process; retry, or, if no git process is running, ask an admin to delete ${full}.lock in ${label}.`,
        {
          gitdir,
          ref: full,
          lock,
        },
      );
    }
    if (code === 'EISDIR') {
      throw new PocketbuildError('RefConflict', `${full} cannot be created in ${label} because refs exist below it.`, {
        gitdir,
        ref: full,
      });
    }
    if (code === 'ENOENT' && !fs.existsSync(path.join(gitdir, 'objects'))) throw missingRepo(gitdir);
    throw e;
  }
  let renamed = false;
  try {
    const value = await decide(await readRef(gitdir, full));
    if (value === null) return;
    await fh.writeFile(`${value}\n`);
    await fh.sync();
    await fh.close();
    await fs.promises.rename(lock, file);
    renamed = true;
    fsyncDir(path.dirname(file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new PocketbuildError('RefConflict', `${full} cannot be created in ${label} because refs exist below it.`, {
        gitdir,
        ref: full,
      });
    }
    throw e;
  } finally {
    if (!renamed) {
      await fh.close().catch(() => undefined);
      await fs.promises.rm(lock, { force: true });
    }
  }
}
