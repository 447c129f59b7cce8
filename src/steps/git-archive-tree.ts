import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { confinedArgv } from '../sandbox/host-tool.js';
import { runChecked } from '../util/run.js';
import { countFiles } from '../util/count-files.js';

/**
 * Write the tree of `id` into `dest` exactly as `git archive` writes it, which is what
 * packagers build from (gbp exports with it, a checkout applies the same attributes) and
 * what pristine-tar's deltas are made against: the tree's own .gitattributes apply (`eol`/`text`
 * conversions, `export-subst`, `export-ignore`, `ident`), so a raw export of the blobs is not
 * the same tree for an upstream that ships CRLF files under `* text eol=lf`, for example.
 *
 * git reads the pushed repository and tar unpacks what git wrote, each confined to the
 * repository (read-only) and this build's work directory, with no configuration of the
 * daemon user's (no global or system gitconfig, so no filter drivers and no autocrlf).
 */
export async function exportLikeGitArchive(
  gitdir: string,
  id: string,
  dest: string,
  o: { workDir: string; log: Writable; timeoutMs: number },
): Promise<{ files: number }> {
  const scratch = fs.mkdtempSync(path.join(o.workDir, 'git-archive-'));
  try {
    const tarball = path.join(scratch, 'tree.tar');
    const env = ['env', 'GIT_CONFIG_NOSYSTEM=1', 'GIT_CONFIG_GLOBAL=/dev/null'];
    await runChecked(
      confinedArgv(
        [...env, 'git', '-c', 'safe.directory=*', '--git-dir', gitdir, 'archive', '--format=tar', '-o', tarball, id],
        { binds: [{ path: gitdir }, { path: scratch, writable: true }], cwd: scratch },
      ),
      {
        timeoutMs: o.timeoutMs,
        log: o.log,
        what: 'git archive',
      },
    );
    // tar sees the archive and the destination only.
    fs.mkdirSync(dest, { recursive: true });
    await runChecked(
      confinedArgv(['tar', '--no-same-owner', '--no-same-permissions', '-xf', tarball, '-C', dest], {
        binds: [{ path: scratch }, { path: dest, writable: true }],
        cwd: dest,
      }),
      {
        timeoutMs: o.timeoutMs,
        log: o.log,
        what: 'tar (git archive)',
      },
    );
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { files: countFiles(dest) };
}
