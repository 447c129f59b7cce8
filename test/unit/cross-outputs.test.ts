import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crossSkipReason } from '../../src/steps/cross-targets.js';
import { checkOutputs } from '../../src/steps/outputs.js';

/** What a cross build may leave: its architecture's .debs and .buildinfo, nothing of the native build's. */
describe('checkOutputs of a cross build', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-cross-out-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A .changes for `architecture` listing `files` (each written with some content). */
  const changes = (architecture: string, files: string[]) => {
    const lines = files.map((f) => {
      const body = `content of ${f}`;
      fs.writeFileSync(path.join(dir, f), body);
      return ` ${crypto.createHash('sha256').update(body).digest('hex')} ${body.length} ${f}`;
    });
    fs.writeFileSync(
      path.join(dir, `hello_1.0_${architecture.split(' ').pop()}.changes`),
      `Format: 1.8\nSource: hello\nArchitecture: ${architecture}\nVersion: 1.0\nChecksums-Sha256:\n${lines.join('\n')}\n`,
    );
  };
  const check = () =>
    checkOutputs(dir, { source: 'hello', version: '1.0', maxBytes: 1 << 20, architectures: ['arm64'] });

  it('keeps the arm64 .debs, .udebs and .buildinfo', async () => {
    changes('arm64', ['hello_1.0_arm64.deb', 'hello-udeb_1.0_arm64.udeb', 'hello_1.0_arm64.buildinfo']);
    expect((await check()).files.map((f) => f.file).sort()).toEqual([
      'hello-udeb_1.0_arm64.udeb',
      'hello_1.0_arm64.buildinfo',
      'hello_1.0_arm64.changes',
      'hello_1.0_arm64.deb',
    ]);
  });

  it('refuses a .changes that also claims the source or arch: all', async () => {
    changes('source arm64', ['hello_1.0_arm64.deb']);
    await expect(check()).rejects.toThrow(
      'hello_1.0_arm64.changes is for architectures "source arm64"; a cross build for arm64 must make packages for it alone.',
    );
  });

  it('refuses a file of another architecture slipped into the list', async () => {
    changes('arm64', ['hello_1.0_arm64.deb', 'hello-data_1.0_all.deb']);
    await expect(check()).rejects.toThrow(
      'hello_1.0_arm64.changes names "hello-data_1.0_all.deb"; a cross build for arm64 may bring only its .debs and .buildinfo.',
    );
  });
});

describe('crossSkipReason', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-cross-skip-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const control = (...arches: string[]) => {
    fs.mkdirSync(path.join(dir, 'debian'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'debian', 'control'),
      ['Source: hello', '', ...arches.map((a, i) => `Package: hello${i}\nArchitecture: ${a}\n`)].join('\n'),
    );
  };

  it('cross-builds a source with a package for the architecture, by dpkg’s wildcards', async () => {
    for (const a of ['any', 'linux-any', 'any-arm64', 'amd64 arm64']) {
      control('all', a);
      expect(await crossSkipReason(dir, 'arm64'), a).toBeNull();
    }
  });

  it('says why it builds nothing for a source of arch: all only, or of other architectures', async () => {
    control('all', 'all');
    expect(await crossSkipReason(dir, 'arm64')).toBe(
      'every binary package is arch: all, built once by the native build',
    );
    control('amd64 i386', 'any-amd64');
    expect(await crossSkipReason(dir, 'arm64')).toBe(
      'no binary package is built for arm64 (Architecture: amd64 i386 any-amd64)',
    );
  });
});
