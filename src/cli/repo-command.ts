import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import type { Config } from '../config/types.js';
import { fileURLToPath } from 'node:url';
import { checkField } from '../queue/request.js';
import { installRepoHooks } from '../git/repo-hooks.js';
import { PocketbuildError } from '../util/errors.js';

/** `pocketbuild repo create NAME`: an empty bare repository for a source package. Returns its path. */
export async function createRepo(config: Config, name: string): Promise<string> {
  checkField('package', name);
  const gitdir = path.join(config.repos_dir, `${name}.git`);
  if (fs.existsSync(gitdir)) throw new PocketbuildError('RepositoryExists', `${gitdir} already exists.`, { gitdir });
  fs.mkdirSync(config.repos_dir, { recursive: true });
  await git.init({ fs, dir: gitdir, gitdir, bare: true, defaultBranch: 'main' });
  installRepoHooks(gitdir, fileURLToPath(new URL('./main.js', import.meta.url)), config.file);
  return gitdir;
}
