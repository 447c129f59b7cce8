import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportedVersion } from '../../src/publish/exported-index.js';

describe('exportedVersion (what a builder host reads instead of reprepro)', () => {
  let apt: string;
  const sources = (suite: string) => path.join(apt, 'dists', suite, 'main', 'source', 'Sources.gz');
  const write = (suite: string, text: string) => {
    fs.mkdirSync(path.dirname(sources(suite)), { recursive: true });
    fs.writeFileSync(sources(suite), zlib.gzipSync(text));
  };

  beforeEach(() => (apt = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-exported-'))));
  afterEach(() => fs.rmSync(apt, { recursive: true, force: true }));

  it("reads the source's version from the suite's exported Sources.gz", () => {
    write(
      'stable',
      [
        'Package: hello\nBinary: hello\nVersion: 2.10-3\nFiles:\n abc 1 hello_2.10-3.dsc\n',
        'Package: hello-extra\nVersion: 9.0\n',
      ].join('\n'),
    );
    expect(exportedVersion(apt, 'stable', 'hello')).toBe('2.10-3');
    expect(exportedVersion(apt, 'stable', 'hello-extra')).toBe('9.0');
    expect(exportedVersion(apt, 'stable', 'other')).toBeNull();
  });

  it('an empty or missing suite publishes nothing; a damaged index is an error naming it', () => {
    write('empty', '');
    expect(exportedVersion(apt, 'empty', 'hello')).toBeNull();
    expect(exportedVersion(apt, 'missing', 'hello')).toBeNull();
    fs.mkdirSync(path.dirname(sources('broken')), { recursive: true });
    fs.writeFileSync(sources('broken'), 'not gzip');
    expect(() => exportedVersion(apt, 'broken', 'hello')).toThrow(
      /cannot read the published index dists\/broken\/main\/source\/Sources\.gz/,
    );
  });
});
