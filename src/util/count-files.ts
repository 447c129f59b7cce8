import fs from 'node:fs';
import path from 'node:path';

/** Everything under `dir` that is not a directory (files and symlinks), without following links. */
export function countFiles(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true }))
    n += e.isDirectory() ? countFiles(path.join(dir, e.name)) : 1;
  return n;
}
