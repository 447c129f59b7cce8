import fs from 'node:fs';
import path from 'node:path';
import { runAs, sharedCacheDir, tempDirForTestUser } from './env.js';

/**
 * Debian's real hello 2.10-3 imported into a package repository the way Debian packagers
 * keep it (gbp import-dsc --pristine-tar: master, upstream, pristine-tar, tags), then
 * mirrored bare into reposDir/hello.git. Returns the commit of master.
 */
export function importHello(reposDir: string): string {
  const sources = path.join(sharedCacheDir(), 'sources');
  const dsc = path.join(sources, 'hello_2.10-3.dsc');
  if (!fs.existsSync(dsc)) throw new Error(`${dsc} missing: global-setup downloads it`);
  const work = tempDirForTestUser('gbp');
  try {
    runAs(['gbp', 'import-dsc', '--pristine-tar', dsc, path.join(work, 'hello')], { cwd: work, timeoutMs: 300_000 });
    const bare = path.join(reposDir, 'hello.git');
    runAs(['git', 'clone', '--quiet', '--mirror', path.join(work, 'hello'), bare]);
    return runAs(['git', '--git-dir', bare, 'rev-parse', 'refs/heads/master']).stdout.trim();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
