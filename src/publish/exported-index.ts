import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseDeb822 } from '../debian/control.js';

/**
 * The source version a suite's exported index (`dists/SUITE/main/source/Sources.gz`) lists
 * for `source`, or null: what apt clients see. Builder hosts ask this instead of reprepro,
 * whose database lives on the publishing host's own disk and is never opened over a network
 * file system. It is as current as reprepro's own answer for the next request of a package:
 * the publisher exports before the previous request of that package leaves the queue.
 */
export function exportedVersion(aptDir: string, suite: string, source: string): string | null {
  const file = path.join(aptDir, 'dists', suite, 'main', 'source', 'Sources.gz');
  let text: string;
  try {
    text = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read the published index dists/${suite}/main/source/Sources.gz: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const stanza = parseDeb822(text, { comments: false, file: 'Sources.gz' }).find((p) => p.get('package') === source);
  return stanza?.get('version') ?? null;
}
