import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptInRoot } from '../helpers/apt-in-root.js';
import { TestBuilder } from '../helpers/builder.js';
import { runAs, tempDirForTestUser } from '../helpers/env.js';
import { fileWriter, PackageRepo } from '../helpers/packages.js';

/**
 * A debhelper source with compiled C code (an `any` package) and an `arch: all` data package,
 * the shape of most of Debian: built into a pocket that publishes amd64 and arm64.
 */
function writeCPackage(dir: string, name: string, version: string, selftest = false): void {
  const w = fileWriter(dir);
  w(
    'debian/changelog',
    `${name} (${version}) unstable; urgency=medium\n\n  * Test release ${version}.\n\n -- Pocket Tester <tester@localhost>  Sat, 21 Nov 2026 12:00:00 +0000\n`,
  );
  w(
    'debian/control',
    [
      `Source: ${name}`,
      'Section: misc',
      'Priority: optional',
      'Maintainer: Pocket Tester <tester@localhost>',
      'Build-Depends: debhelper-compat (= 13)',
      'Standards-Version: 4.6.2',
      'Rules-Requires-Root: no',
      '',
      `Package: ${name}`,
      'Architecture: any',
      `Depends: \${shlibs:Depends}, \${misc:Depends}, ${name}-data (= \${source:Version})`,
      'Description: compiled pocketbuild test program',
      ' Built by the test suite.',
      '',
      `Package: ${name}-data`,
      'Architecture: all',
      'Depends: ${misc:Depends}',
      'Description: data of the pocketbuild test program',
      ' Built by the test suite.',
      '',
    ].join('\n'),
  );
  w('debian/source/format', '3.0 (native)\n');
  w('debian/rules', '#!/usr/bin/make -f\n%:\n\tdh $@\n', 0o755);
  w(`debian/${name}.install`, 'usr/bin\n');
  w(`debian/${name}-data.install`, `greeting usr/share/${name}\n`);
  w('greeting', `hello from compiled ${name} ${version}\n`);
  w(
    'hello.c',
    [
      '#include <stdio.h>',
      'int main(int argc, char **argv) {',
      '  (void)argv;',
      '  if (argc > 1) return puts("selftest ok") < 0;',
      `  FILE *f = fopen("/usr/share/${name}/greeting", "r");`,
      '  char line[200];',
      '  if (!f || !fgets(line, sizeof line, f)) return 1;',
      '  fputs(line, stdout);',
      '  return 0;',
      '}',
      '',
    ].join('\n'),
  );
  // dh_auto_build passes CC (the cross compiler, when cross-building) and the flags.
  w(
    'Makefile',
    [
      `${name}: hello.c`,
      '\t$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ hello.c',
      // What some packages do (bc runs the calculator it built to make its math library).
      ...(selftest ? ['\t./$@ --selftest'] : []),
      'install:',
      `\tinstall -D -m 755 ${name} $(DESTDIR)/usr/bin/${name}`,
      'clean:',
      `\trm -f ${name}`,
      '',
    ].join('\n'),
  );
}

/**
 * Issue 12, part 3: a pocket of two architectures. The host's (amd64) is built natively and
 * makes the source and the `arch: all` package; arm64 is cross-built in the same sandbox.
 */
describe('architectures per pocket', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let allRepo: PackageRepo;
  const PKG = 'pb-hello-c';
  let id = '';
  let allId = '';

  beforeAll(async () => {
    b = new TestBuilder('architectures', {
      pockets: {
        dev: { architectures: ['amd64', 'arm64'] },
        stable: { architectures: ['arm64', 'amd64'], promote_from: ['dev'] },
      },
    });
    repo = new PackageRepo(b.reposDir, PKG);
    allRepo = new PackageRepo(b.reposDir, 'pb-all-only');
    await b.startDaemon();
    id = b.submit(
      'dev',
      PKG,
      repo.commitTree((dir) => writeCPackage(dir, PKG, '1.0'), `${PKG} 1.0`),
    );
    allId = b.submit('dev', 'pb-all-only', allRepo.commitVersion({ version: '1.0' }));
    for (const x of [id, allId]) expect((await b.waitFor(x)).status, b.buildLog(x)).toBe('succeeded');
  }, 40 * 60_000);

  afterAll(async () => {
    repo?.cleanup();
    allRepo?.cleanup();
    await b?.cleanup();
  });

  const outputs = (x: string) => fs.readdirSync(path.join(b.stateDir, 'builds', x, 'outputs')).sort();

  it('builds the compiled package for amd64 and arm64, and the arch: all one once', () => {
    expect(outputs(id)).toEqual([
      `${PKG}-data_1.0_all.deb`,
      // debhelper's automatic debug symbols, one per architecture.
      `${PKG}-dbgsym_1.0_amd64.deb`,
      `${PKG}-dbgsym_1.0_arm64.deb`,
      `${PKG}_1.0.dsc`,
      `${PKG}_1.0.tar.xz`,
      `${PKG}_1.0_amd64.buildinfo`,
      `${PKG}_1.0_amd64.changes`,
      `${PKG}_1.0_amd64.deb`,
      `${PKG}_1.0_arm64.buildinfo`,
      `${PKG}_1.0_arm64.changes`,
      `${PKG}_1.0_arm64.deb`,
    ]);
    const log = b.buildLog(id);
    expect(log).toContain('==> cross ');
    expect(log).toContain(`building as uid 1000 in /build/reproducible-path/${PKG}-1.0, cross-built for arm64`);
    // The cross build installed arm64's C library beside the host's cross toolchain.
    expect(log).toMatch(/^ {2}libc6-dev 2\.36\S* arm64 sha256:[0-9a-f]{64}$/m);
    expect(log).toMatch(/^ {2}crossbuild-essential-arm64 \S+ all sha256:[0-9a-f]{64}$/m);
    // Nothing architecture-specific: the native build made it all, and nothing is cross-built.
    expect(b.buildLog(allId)).toContain(
      'cross arm64: every binary package is arch: all, built once by the native build; nothing to cross-build',
    );
    expect(outputs(allId).filter((f) => f.includes('arm64'))).toEqual([]);
  });

  it('the arm64 .deb says arm64 and holds an aarch64 program; the amd64 one an x86-64 program', () => {
    const dir = tempDirForTestUser('arch-debs');
    try {
      for (const [arch, machine] of [
        ['arm64', /ELF 64-bit LSB .*ARM aarch64/],
        ['amd64', /ELF 64-bit LSB .*x86-64/],
      ] as const) {
        const deb = path.join(b.stateDir, 'builds', id, 'outputs', `${PKG}_1.0_${arch}.deb`);
        const info = runAs(['dpkg-deb', '--info', deb]).stdout;
        expect(info).toMatch(new RegExp(`^ Architecture: ${arch}$`, 'm'));
        // dpkg-shlibdeps read arm64's libc for the arm64 program's dependencies.
        expect(info).toMatch(/^ Depends: libc6 \(>= [^)]+\), pb-hello-c-data \(= 1\.0\)$/m);
        const into = path.join(dir, arch);
        runAs(['dpkg-deb', '-x', deb, into]);
        expect(runAs(['file', '-b', path.join(into, 'usr/bin', PKG)]).stdout).toMatch(machine);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('publishes both architectures: amd64 apt installs and runs it, arm64 apt is offered the arm64 build', () => {
    const release = fs.readFileSync(path.join(b.aptDir(), 'dists', 'dev', 'Release'), 'utf8');
    expect(release).toMatch(/^Architectures: amd64 arm64$/m);
    const sha = (file: string) =>
      runAs(['sha256sum', path.join(b.stateDir, 'builds', id, 'outputs', file)]).stdout.split(' ')[0];
    const r = aptInRoot('bookworm', b.aptDir(), 'dev', [
      `apt-get -q -y install ${PKG}`,
      `echo "SAYS: $(${PKG})"`,
      // A machine that takes arm64 packages too sees the arm64 build, as an arm64 machine would.
      'dpkg --add-architecture arm64',
      'apt-get -q update',
      `apt-cache show ${PKG}:arm64 | sed -n "s/^\\(Architecture\\|SHA256\\): /ARM64 \\1: /p"`,
      `apt-cache show ${PKG}-data | sed -n "s/^Architecture: /DATA Architecture: /p"`,
      `cd /tmp && apt-get -q download ${PKG}:arm64 && sha256sum ${PKG}_1.0_arm64.deb`,
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SAYS: hello from compiled ${PKG} 1.0`);
    expect(r.stdout).toContain('ARM64 Architecture: arm64');
    expect(r.stdout).toContain(`ARM64 SHA256: ${sha(`${PKG}_1.0_arm64.deb`)}`);
    expect(r.stdout).toContain(`${sha(`${PKG}_1.0_arm64.deb`)}  ${PKG}_1.0_arm64.deb`);
    // One arch: all package, published once for both.
    expect(r.stdout.match(/^DATA Architecture: .*$/gm)).toEqual(['DATA Architecture: all']);
  });

  it('signs every file of both architectures in the provenance, and verify checks the arm64 .deb', () => {
    const envelope = JSON.parse(
      fs.readFileSync(path.join(b.stateDir, 'builds', id, 'provenance.intoto.jsonl'), 'utf8'),
    ) as { payload: string };
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
      subject: Array<{ name: string }>;
      predicate: { buildDefinition: { resolvedDependencies: Array<{ name?: string; uri?: string }> } };
    };
    const names = statement.subject.map((x) => x.name);
    for (const f of [`${PKG}_1.0_amd64.deb`, `${PKG}_1.0_arm64.deb`, `${PKG}-data_1.0_all.deb`])
      expect(names).toContain(f);
    expect(JSON.stringify(statement.predicate.buildDefinition.resolvedDependencies)).toContain(
      'crossbuild-essential-arm64',
    );
    const v = b.cli(['verify', path.join(b.stateDir, 'builds', id, 'outputs', `${PKG}_1.0_arm64.deb`)]);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain(id);
  });

  it('promotes both architectures to stable, the same files', async () => {
    const r = b.cli(['promote', PKG, 'dev', 'stable'], true);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const promoted = r.stdout.trim().split('\n').pop()!.trim();
    expect((await b.waitFor(promoted)).status, b.buildLog(promoted)).toBe('succeeded');
    for (const arch of ['amd64', 'arm64']) {
      const index = fs.readFileSync(
        path.join(b.aptDir(), 'dists', 'stable', 'main', `binary-${arch}`, 'Packages'),
        'utf8',
      );
      const stanza = index.split('\n\n').find((p) => p.startsWith(`Package: ${PKG}\n`))!;
      const sha = runAs(['sha256sum', path.join(b.stateDir, 'builds', id, 'outputs', `${PKG}_1.0_${arch}.deb`)]).stdout;
      expect(stanza).toContain(`SHA256: ${sha.split(' ')[0]}`);
    }
  });

  it('fails a package that runs what it built, saying it cannot be cross-built, and publishes none of it', async () => {
    const runs = new PackageRepo(b.reposDir, 'pb-runs-built');
    try {
      const x = b.submit(
        'dev',
        'pb-runs-built',
        runs.commitTree((d) => writeCPackage(d, 'pb-runs-built', '1.0', true), 'runs'),
      );
      const r = await b.waitFor(x);
      expect(r.status, b.buildLog(x)).toBe('failed');
      expect(r.code).toBe('BuildFailed');
      expect(r.reason).toBe(
        'the arm64 cross build in the sandbox exited with status 2: it ran ./pb-runs-built, a program it built for arm64, so this package cannot be cross-built as it is',
      );
      // The native build ran its self-test; the cross build got as far as running it.
      expect(b.buildLog(x)).toContain('selftest ok');
      expect(b.published('dev')).not.toContain('pb-runs-built 1.0');
    } finally {
      runs.cleanup();
    }
  });

  it('rebuilds both architectures from the recorded .debs, bit for bit', () => {
    const r = b.cli(['rebuild', id], true);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`reproduced: build ${id}'s outputs are bit-for-bit identical`);
    // The arm64 files were compared too: they are among the rebuild's outputs.
    const rebuilds = path.join(b.stateDir, 'builds', id, 'rebuilds');
    const [dir] = fs.readdirSync(rebuilds);
    expect(fs.readdirSync(path.join(rebuilds, dir!, 'outputs'))).toContain(`${PKG}_1.0_arm64.deb`);
  });
});
