import fs from 'node:fs';
import path from 'node:path';
import { runAs, tempDirForTestUser } from './env.js';

export interface NativePackage {
  name: string;
  version: string;
  /** Extra shell lines run by `debian/rules build` (the build step), e.g. a tool the package forgot to declare. */
  buildCommands?: string[];
  buildDepends?: string;
  /** What the installed program prints. */
  greeting?: string;
  /** 3.0 (quilt) needs an upstream tarball (pristine-tar or an upstream/<version> tag); default native. */
  format?: 'native' | 'quilt';
  /** Shell lines run by `debian/rules binary` after the .deb is made (cwd: the source tree). */
  binaryCommands?: string[];
  /** The binary package's DEBIAN/postinst (a whole script, #! line included). */
  postinst?: string;
  /** More files in the tree (executable): path in the tree -> content. */
  files?: Record<string, string>;
  /** Symlinks committed in the tree: path in the tree -> target, verbatim. */
  symlinks?: Record<string, string>;
  /** An uncompressed data.tar, so a test can search the .deb's bytes for what the build put in it. */
  uncompressed?: boolean;
}

/** Writes files under `dir` (parents made), each with exactly `mode` whatever the umask. */
export function fileWriter(dir: string): (rel: string, text: string, mode?: number) => void {
  return (rel, text, mode = 0o644) => {
    const f = path.join(dir, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text, { mode });
    fs.chmodSync(f, mode);
  };
}

/**
 * A small native source package with no build-dependencies beyond build-essential: its
 * rules file builds the .deb with dpkg-deb directly, so tests spend seconds, not minutes.
 */
export function writeNativePackage(dir: string, p: NativePackage): void {
  const w = fileWriter(dir);
  w(
    'debian/changelog',
    `${p.name} (${p.version}) unstable; urgency=medium\n\n  * Test release ${p.version}.\n\n -- Pocket Tester <tester@localhost>  Sat, 21 Nov 2026 12:00:00 +0000\n`,
  );
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
      ' Built by the test suite.',
      '',
    ].join('\n'),
  );
  w('debian/source/format', p.format === 'quilt' ? '3.0 (quilt)\n' : '3.0 (native)\n');
  const build = (p.buildCommands ?? []).map((c) => `\t${c}`).join('\n');
  w(
    'debian/rules',
    [
      '#!/usr/bin/make -f',
      'build build-arch build-indep:',
      '\ttrue',
      build,
      'clean:',
      '\trm -rf debian/tmp debian/files',
      'binary binary-arch binary-indep: build',
      '\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/bin',
      `\tinstall -m 755 greet debian/tmp/usr/bin/${p.name}`,
      ...(p.postinst ? ['\tinstall -m 755 debian/postinst debian/tmp/DEBIAN/postinst'] : []),
      `\tdpkg-gencontrol -p${p.name} -Pdebian/tmp`,
      `\tdpkg-deb --root-owner-group${p.uncompressed ? ' -Znone' : ''} --build debian/tmp ..`,
      ...(p.binaryCommands ?? []).map((c) => `\t${c}`),
      '.PHONY: build build-arch build-indep clean binary binary-arch binary-indep',
      '',
    ].join('\n'),
    0o755,
  );
  w('greet', `#!/bin/sh\necho "${p.greeting ?? `hello from ${p.name} ${p.version}`}"\n`, 0o755);
  if (p.postinst) w('debian/postinst', p.postinst, 0o755);
  for (const [rel, text] of Object.entries(p.files ?? {})) w(rel, text, 0o755);
  for (const [rel, target] of Object.entries(p.symlinks ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.rmSync(path.join(dir, rel), { force: true }); // a symlink may stand in for a file written above
    fs.symlinkSync(target, path.join(dir, rel));
  }
}

/**
 * A package repository made with the real git CLI: a bare repo in reposDir and a work
 * clone the test commits from. Everything belongs to the test user.
 */
export class PackageRepo {
  readonly work: string;
  readonly bare: string;

  constructor(
    reposDir: string,
    readonly name: string,
  ) {
    this.bare = path.join(reposDir, `${name}.git`);
    this.work = tempDirForTestUser(`work-${name}`);
    runAs(['git', 'init', '--quiet', '--bare', '--initial-branch=main', this.bare]);
    runAs(['git', 'init', '--quiet', '--initial-branch=main', this.work]);
    runAs(['git', '-C', this.work, 'remote', 'add', 'origin', this.bare]);
  }

  /** Replace the work tree with a native package at `version` and commit it; returns the commit id. */
  commitVersion(p: Omit<NativePackage, 'name'>, branch = 'main'): string {
    return this.commitTree(
      (dir) => writeNativePackage(dir, { ...p, name: this.name }),
      `${this.name} ${p.version}`,
      branch,
    );
  }

  /** Replace the work tree with what `write` puts in a directory, and commit it; returns the commit id. */
  commitTree(write: (dir: string) => void, message: string, branch = 'main'): string {
    const exists =
      runAs(['git', '-C', this.work, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { allowFail: true })
        .status === 0;
    const current = runAs(['git', '-C', this.work, 'symbolic-ref', '--short', 'HEAD']).stdout.trim();
    if (current !== branch) runAs(['git', '-C', this.work, 'checkout', '--quiet', ...(exists ? [] : ['-b']), branch]);
    runAs([
      'find',
      this.work,
      '-mindepth',
      '1',
      '-maxdepth',
      '1',
      '!',
      '-name',
      '.git',
      '-exec',
      'rm',
      '-rf',
      '{}',
      '+',
    ]);
    const stage = tempDirForTestUser('stage');
    write(stage);
    runAs(['cp', '-a', `${stage}/.`, this.work]);
    fs.rmSync(stage, { recursive: true, force: true });
    runAs(['git', '-C', this.work, 'add', '-A']);
    runAs(['git', '-C', this.work, 'commit', '--quiet', '-m', message]);
    runAs(['git', '-C', this.work, 'push', '--quiet', '--force', 'origin', branch]);
    return runAs(['git', '-C', this.work, 'rev-parse', 'HEAD']).stdout.trim();
  }

  /** Commit an upstream tree (just the program, no debian/) and tag it upstream/<version>, as gbp does. */
  tagUpstream(version: string, greeting: string): string {
    runAs(['git', '-C', this.work, 'checkout', '--quiet', '--orphan', 'upstream']);
    runAs(['git', '-C', this.work, 'rm', '-rf', '--quiet', '--ignore-unmatch', '.']);
    runAs([
      'sh',
      '-c',
      'printf "#!/bin/sh\\necho \\"%s\\"\\n" "$2" > "$1/greet" && chmod 755 "$1/greet"',
      'sh',
      this.work,
      greeting,
    ]);
    runAs(['git', '-C', this.work, 'add', '-A']);
    runAs(['git', '-C', this.work, 'commit', '--quiet', '-m', `upstream ${version}`]);
    runAs(['git', '-C', this.work, 'tag', `upstream/${version}`]);
    runAs(['git', '-C', this.work, 'push', '--quiet', 'origin', 'upstream', `upstream/${version}`]);
    return runAs(['git', '-C', this.work, 'rev-parse', 'HEAD']).stdout.trim();
  }

  /** Start an unrelated history (an orphan branch): a commit that descends from nothing published. */
  orphan(branch: string): void {
    runAs(['git', '-C', this.work, 'checkout', '--quiet', '--orphan', branch]);
  }

  cleanup(): void {
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}
