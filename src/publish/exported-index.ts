import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseDeb822 } from '../debian/control.js';

/** A suite's exported Sources stanzas (`dists/SUITE/main/source/Sources.gz`); none when it has none yet. */
function sourceStanzas(aptDir: string, suite: string): Array<Map<string, string>> {
  const file = path.join(aptDir, 'dists', suite, 'main', 'source', 'Sources.gz');
  let text: string;
  try {
    text = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read the published index dists/${suite}/main/source/Sources.gz: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return parseDeb822(text, { comments: false, file: 'Sources.gz' });
}

/**
 * The source version a suite's exported index (`dists/SUITE/main/source/Sources.gz`) lists
 * for `source`, or null: what apt clients see. Builder hosts ask this instead of reprepro,
 * whose database lives on the publishing host's own disk and is never opened over a network
 * file system. It is as current as reprepro's own answer for the next request of a package:
 * the publisher exports before the previous request of that package leaves the queue.
 */
export function exportedVersion(aptDir: string, suite: string, source: string): string | null {
  return (
    sourceStanzas(aptDir, suite)
      .find((p) => p.get('package') === source)
      ?.get('version') ?? null
  );
}

/**
 * Every file a suite's exported indices list for `source` at `version`, with the sha256 they
 * give it (file name → sha256): the source package's files from Sources.gz, and the binary
 * packages (.deb, and .udeb under debian-installer) from every architecture's Packages.
 * This is what an apt client of the suite would fetch and check.
 */
export function exportedFiles(aptDir: string, suite: string, source: string, version: string): Map<string, string> {
  const files = new Map<string, string>();
  const src = sourceStanzas(aptDir, suite).find((p) => p.get('package') === source && p.get('version') === version);
  for (const line of (src?.get('checksums-sha256') ?? '').split('\n')) {
    const [sha256, , name] = line.trim().split(/\s+/);
    if (sha256 && name) files.set(name, sha256);
  }
  const main = path.join(aptDir, 'dists', suite, 'main');
  const arches = fs.existsSync(main) ? fs.readdirSync(main).filter((d) => /^binary-[a-z0-9]+$/.test(d)) : [];
  for (const section of ['', 'debian-installer'])
    for (const arch of arches) {
      const file = path.join(main, section, arch, 'Packages');
      if (!fs.existsSync(file)) continue;
      for (const p of parseDeb822(fs.readFileSync(file, 'utf8'), { comments: false, file: 'Packages' })) {
        // "Source: name (version)" when the binary's own version differs; absent when named as its source.
        const [name, inParens] = (p.get('source') ?? p.get('package') ?? '').split(/\s+/);
        const from = inParens ? inParens.replace(/^\(|\)$/g, '') : p.get('version');
        if (name !== source || from !== version) continue;
        const filename = p.get('filename');
        const sha256 = p.get('sha256');
        if (filename && sha256) files.set(path.basename(filename), sha256);
      }
    }
  return files;
}
