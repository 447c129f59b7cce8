import path from 'node:path';
import type { SpawnSyncReturns } from 'node:child_process';
import { hostArch } from '../../src/util/host-arch.js';
import { PROJECT, runAs, sharedCacheDir } from './env.js';

/**
 * A fresh root of Debian `release` (the shared base image, in a pocketbuild sandbox with no
 * network) that trusts only the repository's key and has only `suite` of it as a source runs
 * `script` after `apt-get update`: a machine of that release installing from the pocket.
 */
export function aptInRoot(release: string, aptDir: string, suite: string, script: string[]): SpawnSyncReturns<string> {
  const all = [
    'set -e',
    'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*',
    `printf "Types: deb\\nURIs: file:/repo\\nSuites: ${suite}\\nComponents: main\\nSigned-By: /etc/apt/keyrings/pocketbuild.gpg\\n" > /etc/apt/sources.list.d/pocketbuild.sources`,
    'apt-get -q update',
    ...script,
  ].join('\n');
  return runAs(
    [
      'node',
      path.join(PROJECT, 'test/helpers/sandbox-run.mjs'),
      JSON.stringify({
        base: path.join(sharedCacheDir(), 'base', `${release}-${hostArch()}`, 'root'),
        binds: [
          { host: aptDir, inside: '/repo' },
          { host: path.join(aptDir, 'key.gpg'), inside: '/etc/apt/keyrings/pocketbuild.gpg' },
        ],
        script: all,
      }),
    ],
    { timeoutMs: 600_000, allowFail: true },
  );
}
