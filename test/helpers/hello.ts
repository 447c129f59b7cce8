import fs from 'node:fs';
import path from 'node:path';
import { runAs, sharedCacheDir, tempDirForTestUser } from './env.js';

/**
 * Debian's real hello 2.10-3 imported into a package repository the way Debian packagers
 * keep it (gbp import-dsc --pristine-tar: master, upstream, pristine-tar, tags), then
 * mirrored bare into reposDir/hello.git. Returns the commit of master.
 */
export function importHello(reposDir: string): string {
  const dsc = path.join(sharedCacheDir(), 'sources', 'hello_2.10-3.dsc');
  if (!fs.existsSync(dsc)) throw new Error(`${dsc} missing: global-setup downloads it`);
  return importDsc(reposDir, 'hello', dsc);
}

/** Any Debian source package (`.dsc` and its files) imported like hello into reposDir/NAME.git. */
export function importDsc(reposDir: string, name: string, dsc: string): string {
  const work = tempDirForTestUser('gbp');
  try {
    runAs(['gbp', 'import-dsc', '--pristine-tar', dsc, path.join(work, name)], { cwd: work, timeoutMs: 600_000 });
    const bare = path.join(reposDir, `${name}.git`);
    runAs(['git', 'clone', '--quiet', '--mirror', path.join(work, name), bare]);
    return runAs(['git', '--git-dir', bare, 'rev-parse', 'refs/heads/master']).stdout.trim();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
