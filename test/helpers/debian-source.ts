import fs from 'node:fs';
import path from 'node:path';
import { runAs, tempDirForTestUser } from './env.js';
import { fileWriter } from './packages.js';

/**
 * A Debian source package made for a test the way upstream and Debian make real ones: an
 * upstream tarball (with whatever odd entries the test wants), optional component
 * tarballs and an upstream signature, `dpkg-source -b`, then `gbp import-dsc
 * --pristine-tar` into a git repository, mirrored bare into reposDir. The rules file uses
 * dpkg-deb directly (no debhelper), so the build takes seconds.
 */
export interface MadeSource {
  name: string;
  /** Full version, epoch and revision included, e.g. `1:2.0-1`. */
  version: string;
  /** `3.0 (quilt)` (default) or `1.0` (a .diff.gz against the tarball). */
  format?: '3.0 (quilt)' | '1.0';
  /** Upstream files: path -> content. A path ending in `/` is an empty directory. */
  upstream: Record<string, string>;
  compression?: 'gz' | 'xz' | 'bz2';
  /** Component tarballs: name -> files (relative to the component's directory), as `orig-NAME.tar.<compression>`. */
  components?: Record<string, Record<string, string>>;
  /** Ship `<tarball>.asc` beside the main tarball. */
  signature?: boolean;
  buildDepends?: string;
  /** Also build `<name>-udeb`, an installer package. */
  udeb?: boolean;
  /** Lines for `debian/rules build` (make syntax: `$$` for the shell's `$`). */
  buildCommands?: string[];
}

export interface ImportedSource {
  dsc: string;
  /** Every file of the source package as dpkg-source made it, name -> sha256. */
  files: Record<string, string>;
  gitdir: string;
}

const sha256 = (f: string) => runAs(['sha256sum', f]).stdout.split(' ')[0]!;

export function makeAndImportSource(reposDir: string, p: MadeSource): ImportedSource {
  const work = tempDirForTestUser('src');
  const noEpoch = p.version.replace(/^\d+:/, '');
  const upstreamVersion = noEpoch.replace(/-[^-]+$/, '');
  const ext = p.compression ?? 'gz';
  const tarFlag = { gz: '-z', xz: '-J', bz2: '-j' }[ext];
  const top = `${p.name}-${upstreamVersion}`;
  const writeTree = (root: string, files: Record<string, string>) => {
    for (const [rel, text] of Object.entries(files)) {
      const f = path.join(root, rel);
      if (rel.endsWith('/')) fs.mkdirSync(f, { recursive: true });
      else {
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, text);
      }
    }
  };
  const tar = (cwd: string, dir: string, out: string) =>
    runAs(
      [
        'tar',
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mtime=@1700000000',
        tarFlag,
        '-cf',
        out,
        dir,
      ],
      { cwd },
    );
  try {
    const stage = path.join(work, 'stage');
    writeTree(path.join(stage, top), p.upstream);
    const tarball = `${p.name}_${upstreamVersion}.orig.tar.${ext}`;
    tar(stage, top, path.join(work, tarball));
    if (p.signature)
      fs.writeFileSync(
        path.join(work, `${tarball}.asc`),
        '-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQ==\n=abcd\n-----END PGP SIGNATURE-----\n',
      );
    for (const [comp, files] of Object.entries(p.components ?? {})) {
      writeTree(path.join(stage, comp), files); // the tarball's top directory is the component's name
      tar(stage, comp, path.join(work, `${p.name}_${upstreamVersion}.orig-${comp}.tar.${ext}`));
    }
    // The source tree: upstream (components in their directories) plus debian/.
    const tree = path.join(work, top);
    runAs(['tar', '-C', work, '-xf', path.join(work, tarball)]);
    for (const comp of Object.keys(p.components ?? {}))
      runAs(['tar', '-C', tree, '-xf', path.join(work, `${p.name}_${upstreamVersion}.orig-${comp}.tar.${ext}`)]);
    writeDebian(tree, p);
    runAs(['dpkg-source', '-b', top], { cwd: work });
    const dsc = path.join(work, `${p.name}_${noEpoch}.dsc`);
    const files: Record<string, string> = {};
    for (const f of fs.readdirSync(work)) if (f.startsWith(`${p.name}_`)) files[f] = sha256(path.join(work, f));
    // As a packager would: import the .dsc, then push everything to the builder's repository.
    const clone = path.join(work, 'git');
    runAs(['gbp', 'import-dsc', '--pristine-tar', dsc, clone], { cwd: work, timeoutMs: 300_000 });
    const gitdir = path.join(reposDir, `${p.name}.git`);
    runAs(['git', 'clone', '--quiet', '--mirror', clone, gitdir]);
    // Keep the made files for comparisons; the work tree goes.
    const keep = path.join(path.dirname(reposDir), 'made', p.name);
    runAs(['mkdir', '-p', keep]);
    for (const f of Object.keys(files)) runAs(['cp', path.join(work, f), keep]);
    return { dsc: path.join(keep, path.basename(dsc)), files, gitdir };
  } finally {
    runAs(['rm', '-rf', work], { allowFail: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function writeDebian(tree: string, p: MadeSource): void {
  const w = fileWriter(tree);
  w(
    'debian/changelog',
    `${p.name} (${p.version}) unstable; urgency=medium\n\n  * Test release.\n\n -- Pocket Tester <tester@localhost>  Sat, 21 Nov 2026 12:00:00 +0000\n`,
  );
  const udeb = `${p.name}-udeb`;
  w(
    'debian/control',
    [
      `Source: ${p.name}`,
      'Section: misc',
      'Priority: optional',
      'Maintainer: Pocket Tester <tester@localhost>',
      ...(p.buildDepends ? [`Build-Depends: ${p.buildDepends}`] : []),
      'Standards-Version: 4.6.2',
      'Rules-Requires-Root: no',
      '',
      `Package: ${p.name}`,
      'Architecture: all',
      `Description: pocketbuild test package ${p.name}`,
      ' Made by the test suite.',
      '',
      ...(p.udeb
        ? [
            `Package: ${udeb}`,
            'Package-Type: udeb',
            'Section: debian-installer',
            'Architecture: all',
            `Description: ${p.name} for the installer`,
            '',
          ]
        : []),
    ].join('\n'),
  );
  if (p.format !== '1.0') w('debian/source/format', `${p.format ?? '3.0 (quilt)'}\n`);
  const pkgDir = (pkg: string) => `debian/${pkg}`;
  const binary = (pkg: string, ext: 'deb' | 'udeb') => [
    `\tmkdir -p ${pkgDir(pkg)}/DEBIAN ${pkgDir(pkg)}/usr/share/${p.name}`,
    // Everything upstream shipped, empty directories included.
    `\tcp -a $(filter-out debian,$(wildcard *)) ${pkgDir(pkg)}/usr/share/${p.name}/`,
    `\tdpkg-gencontrol -p${pkg} -P${pkgDir(pkg)}`,
    `\tdpkg-deb --root-owner-group --build ${pkgDir(pkg)} ..${ext === 'udeb' ? `/${pkg}_${p.version.replace(/^\d+:/, '')}_all.udeb` : ''}`,
  ];
  w(
    'debian/rules',
    [
      '#!/usr/bin/make -f',
      'build build-arch build-indep:',
      '\ttrue',
      ...(p.buildCommands ?? []).map((c) => `\t${c}`),
      'clean:',
      `\trm -rf debian/files ${pkgDir(p.name)} ${pkgDir(udeb)}`,
      'binary binary-arch binary-indep: build',
      ...binary(p.name, 'deb'),
      ...(p.udeb ? binary(udeb, 'udeb') : []),
      '.PHONY: build build-arch build-indep clean binary binary-arch binary-indep',
      '',
    ].join('\n'),
    0o755,
  );
}
