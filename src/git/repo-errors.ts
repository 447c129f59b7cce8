import fs from 'node:fs';
import path from 'node:path';
import { PocketbuildError, UnknownPackage } from '../util/errors.js';

/** The repository's name as users know it (`hello.git`), for messages. */
export function repoLabel(gitdir: string): string {
  return path.basename(path.resolve(gitdir));
}

/** The abbreviation used in messages, like `git log --oneline`. */
export function shortOid(oid: string): string {
  return oid.slice(0, 7);
}

/** The `code` isomorphic-git puts on its errors (`NotFoundError`...), if `e` has one. */
export function isomorphicGitCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/**
 * Called after a lookup failed: when the repository itself is missing, saying so is far more
 * useful than "commit not found", and it costs nothing on the successful path. Package
 * repositories are the only ones read, so a missing one is an unknown package, as at submit.
 */
export async function assertRepoExists(gitdir: string): Promise<void> {
  try {
    await fs.promises.access(path.join(gitdir, 'objects'));
  } catch {
    throw missingRepo(gitdir);
  }
}

export function missingRepo(gitdir: string): UnknownPackage {
  return new UnknownPackage(repoLabel(gitdir).replace(/\.git$/, ''));
}

/** The error for an object that is stored but cannot be made sense of: `what` is `tree`, `commit`... */
export function corruptObject(gitdir: string, what: string, oid: string, why = 'is malformed'): PocketbuildError {
  return new PocketbuildError(
    'CorruptObject',
    `${what} ${shortOid(oid)} in ${repoLabel(gitdir)} ${why}; run git fsck on the repository.`,
    {
      gitdir,
      oid,
    },
  );
}
