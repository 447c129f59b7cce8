import path from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import { baseImageReady, ensureBaseImage } from '../steps/base-image.js';

/**
 * Make the base image before the first build needs it, saying so: otherwise the first build
 * of a new builder waits a minute or more in silence. Only the progress lines are passed on
 * (mmdebstrap's own output goes to the build log of a build that makes it, not here).
 */
export async function makeBaseImageAhead(config: Config, say: (line: string) => void): Promise<void> {
  const cacheDir = path.join(config.cache_dir, 'base');
  if (baseImageReady(cacheDir, config.archive.suite)) return;
  let partial = '';
  const progress = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('base image:')) say(l);
      cb();
    },
  });
  await ensureBaseImage({ cacheDir, suite: config.archive.suite, mirror: config.archive.mirror, log: progress });
}
