import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportedFiles, exportedVersion } from '../../src/publish/exported-index.js';

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

  it("lists a source's files from every architecture's Packages, the installer's too", () => {
    write('dev', 'Package: hello\nVersion: 1.0\nChecksums-Sha256:\n aa 10 hello_1.0.dsc\n');
    const packages = (dir: string, text: string) => {
      fs.mkdirSync(path.join(apt, 'dists', 'dev', 'main', dir), { recursive: true });
      fs.writeFileSync(path.join(apt, 'dists', 'dev', 'main', dir, 'Packages'), text);
    };
    const stanza = (pkg: string, arch: string, sha: string, source = '') =>
      `Package: ${pkg}\n${source}Version: 1.0\nArchitecture: ${arch}\nFilename: pool/main/h/hello/${pkg}_1.0_${arch}.deb\nSHA256: ${sha}\n`;
    packages(
      'binary-amd64',
      [stanza('hello', 'amd64', 'b1'), stanza('hello-data', 'all', 'c1', 'Source: hello\n')].join('\n'),
    );
    packages('binary-arm64', [stanza('hello', 'arm64', 'b2'), stanza('other', 'arm64', 'd1')].join('\n'));
    packages('debian-installer/binary-arm64', stanza('hello-udeb', 'arm64', 'e1', 'Source: hello\n'));
    expect(Object.fromEntries(exportedFiles(apt, 'dev', 'hello', '1.0'))).toEqual({
      'hello_1.0.dsc': 'aa',
      'hello_1.0_amd64.deb': 'b1',
      'hello-data_1.0_all.deb': 'c1',
      'hello_1.0_arm64.deb': 'b2',
      'hello-udeb_1.0_arm64.deb': 'e1',
    });
  });
});
