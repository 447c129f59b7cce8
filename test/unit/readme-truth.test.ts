import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOOK_EVENTS } from '../../src/notify/hooks.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function filesUnder(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(rel) : [rel];
  });
}

function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}`);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** What the README says, where the program can be asked. */
describe('README', () => {
  it('has every section the code, hooks and scripts point readers to', () => {
    const headings = README.split('\n')
      .filter((l) => /^#{2,3} /.test(l))
      .map((l) => l.replace(/^#+ /, ''));
    const refs = ['src', 'hooks', 'bin', 'deploy', 'docs'].flatMap(filesUnder).flatMap((f) =>
      [...fs.readFileSync(path.join(ROOT, f), 'utf8').matchAll(/README(?:\.md)? "([^"]+)"/g)].map((m) => ({
        f,
        // A reference may wrap across comment lines.
        ref: m[1]!.replace(/\s*\n\s*(?:\*|\/\/|#)?\s*/g, ' '),
      })),
    );
    expect(refs.length).toBeGreaterThan(3);
    expect(refs.filter(({ ref }) => !headings.some((h) => h.startsWith(ref)))).toEqual([]);
  });

  it('lists every hook event, in the order a request meets them', () => {
    const hooks = section('Hooks');
    const at = HOOK_EVENTS.map((e) => hooks.indexOf(`\`${e}\``));
    expect(
      at.every((i) => i >= 0),
      HOOK_EVENTS.join(' '),
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});
