import fs from 'node:fs';
import path from 'node:path';
import { parseDeb822 } from '../debian/control.js';
import { run } from '../util/run.js';

/**
 * Whether a source's debian/control has a binary package built for `arch` other than
 * `arch: all` ones (those come from the native build, once): null if so, else why not, in
 * words for the build log. Architecture wildcards (`any`, `linux-any`, `any-arm64`) are
 * matched by dpkg-architecture itself, so they mean what they mean to dpkg.
 */
export async function crossSkipReason(sourceDir: string, arch: string): Promise<string | null> {
  const stanzas = parseDeb822(fs.readFileSync(path.join(sourceDir, 'debian', 'control'), 'utf8'), {
    comments: true,
    file: 'debian/control',
  }).slice(1);
  const wildcards = new Set(
    stanzas.flatMap((b) => (b.get('architecture') ?? '').split(/\s+/).filter((w) => w && w !== 'all')),
  );
  if (!wildcards.size) return 'every binary package is arch: all, built once by the native build';
  for (const w of wildcards) {
    if (w === arch || w === 'any') return null;
    // The field is the packager's text: it goes to dpkg as one argument, never through a shell.
    const r = await run(['dpkg-architecture', '-a', arch, '-i', w], { timeoutMs: 30_000 });
    if (r.code === 0) return null;
  }
  return `no binary package is built for ${arch} (Architecture: ${[...wildcards].join(' ')})`;
}
