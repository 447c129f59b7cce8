import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { importHello } from '../helpers/hello.js';
import { PROJECT, runAs, sharedCacheDir } from '../helpers/env.js';
import { hostArch } from '../../src/util/host-arch.js';

/**
 * The acceptance path of the spine: Debian's real hello (3.0 quilt, pristine-tar) and a
 * native package go from git to a signed APT repository through the real daemon running as
 * an unprivileged user, and a fresh sandbox installs hello from that repository with apt.
 */
describe('from a queued request to a signed APT repository', () => {
  let b: TestBuilder;
  let native: PackageRepo;

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
    const helloCommit = importHello(b.reposDir);
    const nativeCommit = native.commitVersion({ version: '1.0' });
    const helloId = b.submit('stable', 'hello', 'master');
    const nativeId = b.submit('stable', 'pb-native', nativeCommit.slice(0, 10));

    const [hello, nat] = await Promise.all([b.waitFor(helloId), b.waitFor(nativeId)]);
    expect(hello.status, b.buildLog(helloId)).toBe('succeeded');
    expect(nat.status, b.buildLog(nativeId)).toBe('succeeded');
    expect(hello.version).toBe('2.10-3');
    expect(b.buildLog(helloId)).toContain('hello_2.10.orig.tar.gz regenerated from the pristine-tar branch');
    expect(hello.outputs.map((o) => o.file)).toContain(`hello_2.10-3_${hostArch()}.deb`);

    // The pocket branch is the built commit, and the tag exists.
    expect(b.git('hello', ['rev-parse', 'refs/heads/stable'])).toBe(helloCommit);
    expect(b.git('hello', ['rev-parse', 'refs/tags/stable/2.10-3'])).toBe(helloCommit);
    expect(b.git('pb-native', ['rev-parse', 'refs/heads/stable'])).toBe(nativeCommit);
    expect(b.published('stable')).toEqual(['hello 2.10-3', 'pb-native 1.0']);

    // A fresh root that trusts only the repository's key installs hello and runs it.
    const script = [
      'set -e',
      'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*',
      'printf "Types: deb\\nURIs: file:/repo\\nSuites: stable\\nComponents: main\\nSigned-By: /etc/apt/keyrings/pocketbuild.gpg\\n" > /etc/apt/sources.list.d/pocketbuild.sources',
      'apt-get -q update',
      'apt-get -q -y install hello pb-native',
      'echo "GREETING: $(hello)"',
      'echo "NATIVE: $(pb-native)"',
    ].join('\n');
    const r = runAs(['node', path.join(PROJECT, 'test/helpers/sandbox-run.mjs'), JSON.stringify({
      base: path.join(sharedCacheDir(), 'base', `bookworm-${hostArch()}`, 'root'),
      binds: [{ host: b.aptDir(), inside: '/repo' }, { host: path.join(b.aptDir(), 'key.gpg'), inside: '/etc/apt/keyrings/pocketbuild.gpg' }],
      script,
    })], { timeoutMs: 600_000 });
    expect(r.stdout).toContain('GREETING: Hello, world!');
    expect(r.stdout).toContain('NATIVE: hello from pb-native 1.0');
  });
});
