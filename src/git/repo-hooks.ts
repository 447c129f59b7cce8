import fs from 'node:fs';
import path from 'node:path';
import { PocketbuildError } from '../util/errors.js';

/**
 * Install pocketbuild's pre-receive and post-receive hooks into a bare repository. They call
 * back into this installation (`pocketbuild hook …`) with the config the repository was made
 * under. Paths are put in single quotes, so they must not contain one.
 */
export function installRepoHooks(gitdir: string, cliScript: string, configFile: string): void {
  for (const p of [process.execPath, cliScript, configFile]) {
    if (p.includes("'"))
      throw new PocketbuildError(
        'UnsafePath',
        `cannot install repository hooks: the path ${p} contains a single quote.`,
      );
  }
  const dir = path.join(gitdir, 'hooks');
  fs.mkdirSync(dir, { recursive: true });
  for (const hook of ['pre-receive', 'post-receive']) {
    const text = `#!/bin/sh\n# Installed by pocketbuild (pocketbuild repo create); see README.md "Git over SSH".\nexec '${process.execPath}' '${cliScript}' --config '${configFile}' hook ${hook}\n`;
    const file = path.join(dir, hook);
    fs.writeFileSync(file, text, { mode: 0o755 });
    fs.chmodSync(file, 0o755);
  }
}
