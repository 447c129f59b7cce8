import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT } from '../helpers/env.js';
import { corpusTable, readCorpusList, runCorpus } from '../helpers/corpus.js';

/**
 * The [ci] subset of the corpus (bench/corpus/bookworm.txt): Debian's own sources, imported
 * with gbp and built by the real daemon, must match Debian's binaries of the same version.
 * The whole list runs with `npm run corpus`.
 */
describe('real Debian packages (corpus subset)', () => {
  it('builds the [ci] packages and each matches Debian’s binaries', async () => {
    const entries = readCorpusList(path.join(PROJECT, 'bench', 'corpus', 'bookworm.txt')).filter((e) => e.ci);
    expect(entries.length).toBeGreaterThanOrEqual(6);
    const { results } = await runCorpus({ entries, progress: (l) => process.stderr.write(`${l}\n`) });
    const table = corpusTable(results);
    process.stderr.write(`${table}\n`);
    for (const r of results) {
      expect({ package: r.package, status: r.status, match: r.match, why: r.mismatch ?? r.reason }).toEqual({
        package: r.package,
        status: 'succeeded',
        match: true,
        why: undefined,
      });
      // Debian builds every one of these binaries; the comparison looked inside each.
      expect(r.matched).toBe(r.expected.length);
      expect(r.expected.length).toBeGreaterThan(0);
    }
    // The subset covers what it says: an epoch, a udeb, a native package.
    expect(results.some((r) => r.version?.includes(':'))).toBe(true);
    expect(results.some((r) => r.binaries.some((b) => b.ours?.endsWith('.udeb')))).toBe(true);
    expect(results.some((r) => r.format === '3.0 (native)')).toBe(true);
  });
});
