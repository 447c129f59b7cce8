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
  for (const hook of HOOKS) {
    const file = path.join(dir, hook);
    fs.writeFileSync(file, hookText(hook, cliScript, configFile), { mode: 0o755 });
    fs.chmodSync(file, 0o755);
  }
}

const HOOKS = ['pre-receive', 'post-receive'] as const;
const MARK = '# Installed by pocketbuild';

function hookText(hook: string, cliScript: string, configFile: string): string {
  return `#!/bin/sh\n${MARK} (pocketbuild repo create); see README.md "SSH: the everyday interface".\nexec '${process.execPath}' '${cliScript}' --config '${configFile}' hook ${hook}\n`;
}

/**
 * Point the hooks pocketbuild installed in each repository of `reposDir` at this installation
 * and config, so a push queues into the queue of the config the builder runs with now (a
 * repository made under config.example.yml keeps working once config.yml exists). Hooks that
 * are not pocketbuild's are left alone. Returns how many repositories changed.
 */
export function refreshRepoHooks(reposDir: string, cliScript: string, configFile: string): number {
  let names: string[];
  try {
    names = fs.readdirSync(reposDir).filter((n) => n.endsWith('.git'));
  } catch {
    return 0;
  }
  let changed = 0;
  for (const name of names) {
    let touched = false;
    for (const hook of HOOKS) {
      const file = path.join(reposDir, name, 'hooks', hook);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const want = hookText(hook, cliScript, configFile);
      if (!text.includes(MARK) || text === want || configFile.includes("'")) continue;
      fs.writeFileSync(file, want);
      touched = true;
    }
    if (touched) changed++;
  }
  return changed;
}
