import { describe, expect, it } from 'vitest';
import { addIndexHashes, parsePrintUris } from '../../src/steps/build-deps.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

const stanza = (p: string, v: string, arch: string, size: number, sha: string) =>
  `Package: ${p}\nVersion: ${v}\nArchitecture: ${arch}\nMaintainer: x\nSize: ${size}\nSHA256: ${sha}\nDescription: x\n`;

describe("the archive index's hashes of the packages apt would install", () => {
  it('reads --print-uris lines, keeping a SHA256 only when apt gives one', () => {
    const out = parsePrintUris(
      [
        'Reading package lists...',
        "'http://deb.debian.org/debian/pool/main/a/automake-1.16/automake_1.16.5-1.3_all.deb' automake_1%3a1.16.5-1.3_all.deb 823456 MD5Sum:d9b0f1b164bc82f7d6e22950782ca229",
        `'file:/srv/apt/pool/main/p/pb/pb_1.0_amd64.deb' pb_1.0_amd64.deb 820 SHA256:${A.toUpperCase()}`,
      ].join('\n'),
    );
    expect(out).toEqual([
      {
        uri: 'http://deb.debian.org/debian/pool/main/a/automake-1.16/automake_1.16.5-1.3_all.deb',
        file: 'automake_1%3a1.16.5-1.3_all.deb',
        size: 823456,
      },
      { uri: 'file:/srv/apt/pool/main/p/pb/pb_1.0_amd64.deb', file: 'pb_1.0_amd64.deb', size: 820, sha256: A },
    ]);
  });

  it('takes each SHA256 from the record of the same name, epoch-ful version, architecture and size', () => {
    const wanted = parsePrintUris(
      "'http://m/automake_1.16.5-1.3_all.deb' automake_1%3a1.16.5-1.3_all.deb 823456 MD5Sum:00\n",
    );
    addIndexHashes(
      wanted,
      [stanza('automake', '1:1.16.5-1.3', 'all', 999, B), stanza('automake', '1:1.16.5-1.3', 'all', 823456, A)].join(
        '\n',
      ),
    );
    expect(wanted[0]!.sha256).toBe(A);
  });

  it('leaves a package two sources carry with different contents, or none describes, without one', () => {
    const wanted = parsePrintUris(
      "'file:/p/foo_1.0_all.deb' foo_1.0_all.deb 10 MD5Sum:00\n'http://m/bar_2_all.deb' bar_2_all.deb 5 MD5Sum:00\n",
    );
    addIndexHashes(wanted, [stanza('foo', '1.0', 'all', 10, A), stanza('foo', '1.0', 'all', 10, B)].join('\n'));
    expect(wanted.map((w) => w.sha256)).toEqual([undefined, undefined]);
  });
});
