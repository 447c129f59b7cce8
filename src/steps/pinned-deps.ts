import fs from 'node:fs';
import path from 'node:path';
import { PocketbuildError } from '../util/errors.js';
import { runChecked } from '../util/run.js';
import { sha256File } from '../util/sha256-file.js';
import type { ResolvedDeb } from './build-deps.js';

export interface RecordedDeb {
  name: string;
  version: string;
  arch: string;
  sha256: string;
  file?: string;
}

export class PinnedDebMissing extends PocketbuildError {
  constructor(d: RecordedDeb, looked: string[]) {
    super(
      'PinnedDebMissing',
      `build-dependency ${d.name} ${d.version} (${d.arch}, sha256 ${d.sha256}) is no longer in ${looked.join(' or ')}; a rebuild needs that exact file: put it back in the apt cache, or rebuild against new inputs with a new submit.`,
      { name: d.name, version: d.version, sha256: d.sha256 },
    );
  }
}

/**
 * Gather the exact .debs a build installed, by sha256, from the apt cache and the published
 * pool, into destDir with a Packages index: the same offline set the sandbox had the first time.
 */
export async function gatherPinnedDebs(
  deps: RecordedDeb[],
  o: { archives: string[]; pool: string; destDir: string },
): Promise<ResolvedDeb[]> {
  fs.mkdirSync(o.destDir, { recursive: true });
  const out: ResolvedDeb[] = [];
  // Most .debs are in the apt cache; the pool is walked once, and only if one is not.
  let pool: Map<string, string[]> | undefined;
  for (const d of deps) {
    const file = d.file ?? `${d.name}_${d.version.replace(/:/g, '%3a')}_${d.arch}.deb`;
    const matches = async (f: string) => fs.existsSync(f) && (await sha256File(f)) === d.sha256;
    let found: string | null = null;
    for (const dir of o.archives) {
      const cached = path.join(dir, file);
      if (!found && (await matches(cached))) found = cached;
    }
    if (!found) {
      pool ??= poolDebs(o.pool);
      for (const c of pool.get(d.name) ?? []) {
        if (await matches(c)) {
          found = c;
          break;
        }
      }
    }
    if (!found) throw new PinnedDebMissing(d, [...o.archives, o.pool]);
    fs.copyFileSync(found, path.join(o.destDir, file));
    out.push({ name: d.name, version: d.version, arch: d.arch, file, sha256: d.sha256, uri: `file:${found}` });
  }
  const index = await runChecked(['dpkg-scanpackages', '--multiversion', '.'], {
    cwd: o.destDir,
    timeoutMs: 5 * 60_000,
    what: 'dpkg-scanpackages',
  });
  fs.writeFileSync(path.join(o.destDir, 'Packages'), index.stdout);
  return out;
}

/**
 * The pool's .debs by binary package name. reprepro keeps a package's files under
 * pool/<component>/<prefix>/<source>/, and the binary name alone does not say the source.
 */
function poolDebs(pool: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && depth < 4) walk(p, depth + 1);
      else if (e.isFile() && e.name.endsWith('.deb')) {
        const name = e.name.slice(0, e.name.indexOf('_'));
        found.set(name, [...(found.get(name) ?? []), p]);
      }
    }
  };
  walk(pool, 0);
  return found;
}
