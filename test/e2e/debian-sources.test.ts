import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { makeAndImportSource, type ImportedSource } from '../helpers/debian-source.js';
import { privateAptOptions, runAs, tempDirForTestUser } from '../helpers/env.js';

/**
 * The classes of real Debian sources that once failed, each on a package made for the test
 * and imported with gbp as a packager would: an epoch, a udeb, an upstream tarball with
 * empty directories, a component tarball and an upstream signature; format 1.0; a test
 * suite that needs loopback, /dev/shm, /proc, HOME and TMPDIR; and packages at fault
 * (an unsatisfiable build-dependency, a compile error) told precisely.
 */
describe('Debian source packages as Debian makes them', () => {
  let b: TestBuilder;

  beforeAll(async () => {
    b = new TestBuilder('debsrc', { pockets: { main: {} } });
    await b.startDaemon();
  });
  afterAll(async () => {
    await b?.cleanup();
  });

  const findInPool = (name: string) => {
    const r = runAs(['find', path.join(b.aptDir(), 'pool'), '-name', name]);
    return r.stdout.trim().split('\n').filter(Boolean);
  };

  it('an epoch, a udeb, empty upstream directories, a component tarball and a signature: built, published, fetchable by apt, verifiable', async () => {
    const made: ImportedSource = makeAndImportSource(b.reposDir, {
      name: 'pbt-epoch',
      version: '1:2.0-1',
      compression: 'xz',
      upstream: { README: 'upstream\n', 'data/empty/': '', 'data/nested/deeper/': '', 'data/file': 'x\n' },
      components: { extra: { notes: 'component\n', 'void/': '' } },
      signature: true,
      udeb: true,
      buildCommands: [
        // What test suites ask of the machine, each one checked for real.
        `perl -MIO::Socket::INET -e '$$s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die "listen: $$!"; IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $$s->sockport) or die "connect: $$!"; print "check: loopback ok\\n"'`,
        'echo x > /dev/shm/pbt-check && rm /dev/shm/pbt-check && echo "check: /dev/shm ok"',
        'grep -q "^Pid:" /proc/self/status && echo "check: /proc ok"',
        'touch "$$HOME/.pbt-check" && echo "check: HOME ok"',
        'f=$$(mktemp -p "$$TMPDIR") && rm "$$f" && echo "check: TMPDIR ok"',
        'echo "check: options $$DEB_BUILD_OPTIONS"',
      ],
    });
    const id = b.submit('main', 'pbt-epoch', 'master');
    const r = await b.waitFor(id);
    const log = b.buildLog(id);
    expect(r.status, log).toBe('succeeded');
    expect(r.version).toBe('1:2.0-1');
    for (const what of ['loopback', '/dev/shm', '/proc', 'HOME', 'TMPDIR']) expect(log).toContain(`check: ${what} ok`);
    expect(log).toMatch(/check: options parallel=\d+/);
    // Our plumbing makes no alarming noise.
    expect(log).not.toContain('Method gave a blank filename');
    expect(log).not.toContain('not listed within it');
    expect(log).not.toContain('no upstream tarball signature');

    // The upstream tarballs and the signature are the packager's, byte for byte.
    const outputs = new Map(r.outputs.map((o) => [o.file, o.sha256]));
    for (const f of ['pbt-epoch_2.0.orig.tar.xz', 'pbt-epoch_2.0.orig-extra.tar.xz', 'pbt-epoch_2.0.orig.tar.xz.asc']) {
      expect(outputs.get(f), f).toBe(made.files[f]);
    }
    // File names carry no epoch; the udeb is published in the installer's component.
    expect([...outputs.keys()]).toEqual(
      expect.arrayContaining(['pbt-epoch_2.0-1_all.deb', 'pbt-epoch-udeb_2.0-1_all.udeb', 'pbt-epoch_2.0-1.dsc']),
    );
    expect(findInPool('pbt-epoch-udeb_2.0-1_all.udeb')).toHaveLength(1);
    const contents = runAs(['dpkg-deb', '-c', findInPool('pbt-epoch_2.0-1_all.deb')[0]!]).stdout;
    expect(contents).toContain('./usr/share/pbt-epoch/data/empty/');
    expect(contents).toContain('./usr/share/pbt-epoch/data/nested/deeper/');
    expect(contents).toContain('./usr/share/pbt-epoch/extra/void/');

    // The tag as DEP-14 spells an epoch.
    expect(b.git('pbt-epoch', ['rev-parse', 'refs/tags/main/1%2.0-1'])).toBe(
      b.git('pbt-epoch', ['rev-parse', 'refs/heads/master']),
    );

    // apt, trusting only the repository's key, fetches the installer index and sees the udeb.
    const apt = tempDirForTestUser('apt-udeb');
    try {
      const opts = privateAptOptions(apt, [
        `deb [signed-by=${path.join(b.aptDir(), 'key.gpg')}] file:${b.aptDir()} main main main/debian-installer`,
      ]);
      const update = runAs(['apt-get', ...opts, 'update'], { allowFail: true });
      expect(update.status, update.stdout + update.stderr).toBe(0);
      expect(update.stdout + update.stderr).not.toMatch(/^(W|E):/m);
      const show = runAs(['apt-cache', ...opts, 'show', 'pbt-epoch-udeb']).stdout;
      expect(show).toContain('Version: 1:2.0-1');
      expect(show).toMatch(/Filename: pool\/main\/p\/pbt-epoch\/pbt-epoch-udeb_2\.0-1_all\.udeb/);
    } finally {
      fs.rmSync(apt, { recursive: true, force: true });
    }

    // verify walks back from the epoch'd .deb to this build.
    const v = b.cli(['verify', findInPool('pbt-epoch_2.0-1_all.deb')[0]!]);
    expect(v.stdout).toContain(`build:       ${id}: pbt-epoch 1:2.0-1 -> pocket main`);
  });

  it('format 1.0 with a .diff.gz, from pristine-tar', async () => {
    const made = makeAndImportSource(b.reposDir, {
      name: 'pbt-onezero',
      version: '1.5-2',
      format: '1.0',
      upstream: { README: 'one zero\n', 'empty/': '' },
    });
    const id = b.submit('main', 'pbt-onezero', 'master');
    const r = await b.waitFor(id);
    expect(r.status, b.buildLog(id)).toBe('succeeded');
    const outputs = new Map(r.outputs.map((o) => [o.file, o.sha256]));
    expect(outputs.get('pbt-onezero_1.5.orig.tar.gz')).toBe(made.files['pbt-onezero_1.5.orig.tar.gz']);
    expect([...outputs.keys()]).toContain('pbt-onezero_1.5-2.diff.gz');
    expect(b.published('main')).toContain('pbt-onezero 1.5-2');
  });

  it('an unsatisfiable build-dependency is named, with why, as BuildDepsUnsatisfiable', async () => {
    makeAndImportSource(b.reposDir, {
      name: 'pbt-baddeps',
      version: '1.0-1',
      upstream: { README: 'x\n' },
      buildDepends: 'pbt-no-such-package, libc6 (>= 999)',
    });
    const id = b.submit('main', 'pbt-baddeps', 'master');
    const r = await b.waitFor(id);
    expect(r.status).toBe('failed');
    expect(r.code).toBe('BuildDepsUnsatisfiable');
    expect(r.reason).toContain('pbt-no-such-package: no package pbt-no-such-package in the archive');
    expect(r.reason).toMatch(/libc6 \(>= 999\): only libc6 \S+ is available/);
    expect(r.reason).not.toContain(b.root); // no server paths
    const status = b.cli(['status', id]).stdout;
    expect(status).toContain('BuildDepsUnsatisfiable');
  });

  it('a failed compile puts the compiler’s error in the reason', async () => {
    makeAndImportSource(b.reposDir, {
      name: 'pbt-broken',
      version: '1.0-1',
      upstream: { 'broken.c': 'int main(void) { return undeclared_thing; }\n' },
      buildCommands: ['cc -c broken.c -o broken.o'],
    });
    const id = b.submit('main', 'pbt-broken', 'master');
    const r = await b.waitFor(id);
    expect(r.status).toBe('failed');
    expect(r.code).toBe('BuildFailed');
    expect(r.reason).toMatch(/broken\.c:1:\d+: error: .undeclared_thing. undeclared/);
  });
});
