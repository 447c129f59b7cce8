import path from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import { baseImageReady, ensureBaseImage } from '../steps/base-image.js';

/**
 * Make the base image of every release the pockets build for before the first build needs it,
 * saying so: otherwise the first build of a new builder waits a minute or more in silence. Only
 * the progress lines are passed on (mmdebstrap's own output goes to the build log of a build
 * that makes it, not here). One at a time: each is a large download and unpack.
 */
export async function makeBaseImageAhead(config: Config, say: (line: string) => void): Promise<void> {
  const cacheDir = path.join(config.cache_dir, 'base');
  const releases = [...new Set(Object.values(config.pockets).map((p) => p.distribution))];
  for (const suite of releases) {
    if (!baseImageReady(cacheDir, suite)) await makeOne(cacheDir, suite, config.archive.mirror, say);
  }
}

async function makeOne(cacheDir: string, suite: string, mirror: string, say: (line: string) => void): Promise<void> {
  let partial = '';
  const progress = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('base image:')) say(l);
      cb();
    },
  });
  await ensureBaseImage({ cacheDir, suite, mirror, log: progress });
}
