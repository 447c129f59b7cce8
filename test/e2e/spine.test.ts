import fs from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptInRoot } from '../helpers/apt-in-root.js';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { importHello } from '../helpers/hello.js';
import { CLI, runAs, tempDirForTestUser } from '../helpers/env.js';
import { hostArch } from '../../src/util/host-arch.js';

/**
 * The acceptance path of the spine: Debian's real hello (3.0 quilt, pristine-tar) and a
 * native package go from git to a signed APT repository through the real daemon running as
 * an unprivileged user, and a fresh sandbox installs hello from that repository with apt.
 */
describe('from a queued request to a signed APT repository', () => {
  let b: TestBuilder;
  let native: PackageRepo;
  let helloId = '';
  let helloCommit = '';

  beforeAll(async () => {
    b = new TestBuilder('spine', { pockets: { stable: {} } });
    await b.startDaemon();
    native = new PackageRepo(b.reposDir, 'pb-native');
  });

  afterAll(async () => {
    native?.cleanup();
    await b?.cleanup();
  });

  it('builds and publishes Debian hello (quilt, pristine-tar) and a native package; apt installs hello', async () => {
    helloCommit = importHello(b.reposDir);
    const nativeCommit = native.commitVersion({ version: '1.0' });
    helloId = b.submit('stable', 'hello', 'master');
    const nativeId = b.submit('stable', 'pb-native', nativeCommit.slice(0, 10));

    const [hello, nat] = await Promise.all([b.waitFor(helloId), b.waitFor(nativeId)]);
    expect(hello.status, b.buildLog(helloId)).toBe('succeeded');
    expect(nat.status, b.buildLog(nativeId)).toBe('succeeded');
    expect(hello.version).toBe('2.10-3');
    expect(b.buildLog(helloId)).toContain('hello_2.10.orig.tar.gz regenerated from the pristine-tar branch');
    // Its build-dependencies come as a cached layer (made now, or by an earlier run): the
    // rebuild below installs them afresh, and must still reproduce the same bytes.
    expect(b.buildLog(helloId)).toMatch(/deps layer: (?:made in|using)/);
    expect(hello.outputs.map((o) => o.file)).toContain(`hello_2.10-3_${hostArch()}.deb`);

    // The pocket branch is the built commit, and the tag exists.
    expect(b.git('hello', ['rev-parse', 'refs/heads/stable'])).toBe(helloCommit);
    expect(b.git('hello', ['rev-parse', 'refs/tags/stable/2.10-3'])).toBe(helloCommit);
    expect(b.git('pb-native', ['rev-parse', 'refs/heads/stable'])).toBe(nativeCommit);
    expect(b.published('stable')).toEqual(['hello 2.10-3', 'pb-native 1.0']);

    // A fresh root that trusts only the repository's key installs hello and runs it.
    const r = aptInRoot('bookworm', b.aptDir(), 'stable', [
      'apt-get -q -y install hello pb-native',
      'echo "GREETING: $(hello)"',
      'echo "NATIVE: $(pb-native)"',
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('GREETING: Hello, world!');
    expect(r.stdout).toContain('NATIVE: hello from pb-native 1.0');
  });

  it('verify walks back from the published hello .deb to its build; a flipped byte or another key fails it', () => {
    expect(helloId, 'the build test ran first').not.toBe('');
    const deb = findFile(path.join(b.aptDir(), 'pool'), `hello_2.10-3_${hostArch()}.deb`);
    const ok = b.cli(['verify', deb]);
    expect(ok.stdout).toContain(`PASSED: ${deb}`);
    expect(ok.stdout).toContain(`build:       ${helloId}: hello 2.10-3 -> pocket stable`);
    expect(ok.stdout).toMatch(/asked by: {4}\S+ via cli at /);
    expect(ok.stdout).toContain(`commit:      ${helloCommit}`);
    expect(ok.stdout).toContain(`log:         ${path.join(b.stateDir, 'builds', helloId, 'build.log')}`);

    // Another machine: only what the repository publishes, no config, no state.
    const elsewhere = tempDirForTestUser('verify-elsewhere');
    try {
      const pub = path.join(b.aptDir(), 'builder.pub');
      const prov = path.join(b.aptDir(), 'provenance');
      const verify = (args: string[]) => runAs(['node', CLI, 'verify', ...args], { cwd: elsewhere, allowFail: true });
      const good = verify(['--key', pub, '--provenance', prov, deb]);
      expect(good.status, good.stdout + good.stderr).toBe(0);
      expect(good.stdout).toContain(`hello 2.10-3 -> pocket stable`);

      const flipped = path.join(elsewhere, path.basename(deb));
      fs.writeFileSync(flipped, flipByte(fs.readFileSync(deb), 0.5));
      const badDeb = verify(['--key', pub, '--provenance', prov, flipped]);
      expect(badDeb.status, badDeb.stdout + badDeb.stderr).toBe(1);
      expect(badDeb.stdout).toContain('FAILED');
      expect(badDeb.stdout).toContain('no provenance names sha256');

      // Provenance whose payload says someone else asked, under the original signature.
      const provFile = findFile(prov, `_${helloId}.intoto.jsonl`);
      const env = JSON.parse(fs.readFileSync(provFile, 'utf8')) as { payload: string };
      const forged = Buffer.from(env.payload, 'base64')
        .toString('utf8')
        .replace(/"principal":"[^"]*"/, '"principal":"mallory"');
      const forgedDir = path.join(elsewhere, 'forged');
      fs.mkdirSync(forgedDir);
      fs.writeFileSync(
        path.join(forgedDir, 'p.intoto.jsonl'),
        JSON.stringify({ ...env, payload: Buffer.from(forged).toString('base64') }) + '\n',
      );
      const badProv = verify(['--key', pub, '--provenance', forgedDir, deb]);
      expect(badProv.status, badProv.stdout + badProv.stderr).toBe(1);
      expect(badProv.stdout).toContain('no signature verifies with the given key');

      // One flipped byte anywhere in the provenance file.
      const raw = fs.readFileSync(provFile);
      for (const at of [0.02, 0.33, 0.5, 0.9, 0.95, 0.98, 0.995, 1]) {
        fs.writeFileSync(path.join(forgedDir, 'p.intoto.jsonl'), flipByte(raw, at));
        const r = verify(['--key', pub, '--provenance', forgedDir, deb]);
        expect(r.status, `byte at ${at}: ${r.stdout}`).toBe(1);
      }

      const otherKey = path.join(elsewhere, 'other.pub');
      fs.writeFileSync(otherKey, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
      const wrongKey = verify(['--key', otherKey, '--provenance', prov, deb]);
      expect(wrongKey.status, wrongKey.stdout + wrongKey.stderr).toBe(1);
      expect(wrongKey.stdout).toContain('no signature verifies with the given key');
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('rebuild of hello from its recorded inputs reproduces identical .debs', () => {
    expect(helloId, 'the build test ran first').not.toBe('');
    const r = runAs(['node', CLI, '--config', b.configFile, 'rebuild', helloId], {
      allowFail: true,
      timeoutMs: 900_000,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^identical +hello_2\\.10-3_${hostArch()}\\.deb$`, 'm'));
    expect(r.stdout).toMatch(/^identical +hello_2\.10-3\.dsc$/m);
    expect(r.stdout).toContain(`reproduced: build ${helloId}'s outputs are bit-for-bit identical`);
    expect(r.stderr).toContain('deps: the ');
    // Nothing was published by the rebuild, and it is in the audit log.
    expect(b.published('stable')).toEqual(['hello 2.10-3', 'pb-native 1.0']);
    expect(fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8')).toMatch(new RegExp(`"type":"rebuild"`));
  });
});

/** A copy with the lowest bit of one byte flipped, at a fraction of the length. */
function flipByte(data: Buffer, fraction: number): Buffer {
  const copy = Buffer.from(data);
  const at = Math.floor((copy.length - 1) * fraction);
  copy.writeUInt8(copy.readUInt8(at) ^ 0x01, at);
  return copy;
}

function findFile(dir: string, suffix: string): string {
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(suffix)) return path.join(e.parentPath, e.name);
  }
  throw new Error(`no *${suffix} under ${dir}`);
}
