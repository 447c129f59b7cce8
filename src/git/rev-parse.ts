import path from 'node:path';
import { run } from '../util/run.js';
import { NotFoundError, PocketbuildError } from '../util/errors.js';

/**
 * Resolve what a submitter typed (full id, unique prefix, branch or tag) to a full commit
 * id with `git rev-parse`. The submit path runs once per SSH request, and loading
 * isomorphic-git costs about 100 ms there, against a few for git itself; builds keep using
 * the isomorphic-git based reader. `spec` has passed the commit grammar (no leading "-").
 */
export async function revParseCommit(gitdir: string, spec: string): Promise<string> {
  const pkg = path.basename(gitdir);
  const r = await run(
    [
      'git',
      '-c',
      `safe.directory=${gitdir}`,
      '--git-dir',
      gitdir,
      'rev-parse',
      '--verify',
      '--end-of-options',
      `${spec}^{commit}`,
    ],
    {
      timeoutMs: 30_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' },
    },
  );
  const id = r.stdout.trim();
  if (r.code === 0 && /^[0-9a-f]{40}$/.test(id)) return id;
  if (/ambiguous/.test(r.stderr)) {
    throw new PocketbuildError(
      'AmbiguousRevision',
      `"${spec}" matches more than one object in ${pkg}; give more hex digits or a branch or tag name.`,
      { spec },
    );
  }
  if (r.timedOut) throw new PocketbuildError('CommandFailed', `git rev-parse ${r.how} in ${pkg}.`, { spec });
  throw new NotFoundError(`commit ${spec} is not in ${pkg}; did you push it?`, { spec, package: pkg });
}
