import { describe, expect, it } from 'vitest';
import { failureLines, foreignProgramRun } from '../../src/steps/failure-reason.js';
import { explainUnmet, parseUnmet } from '../../src/steps/build-deps.js';
import { debBuildOptions } from '../../src/steps/build-in-sandbox.js';

describe('failureLines: why a build failed, from its output', () => {
  it('prefers the compiler error over make and dpkg-buildpackage echoing it', () => {
    const out = [
      'gcc -O2 -c src/main.c -o main.o',
      'src/main.c:12:5: error: unknown type name ‘frobnicate_t’',
      'make[2]: *** [Makefile:10: main.o] Error 1',
      'make[1]: *** [Makefile:4: all] Error 2',
      'dh_auto_build: error: make -j2 returned exit code 2',
      'dpkg-buildpackage: error: debian/rules build subprocess returned exit status 2',
      'pocketbuild: dpkg-buildpackage exited with status 2',
    ].join('\n');
    expect(failureLines(out)).toBe('src/main.c:12:5: error: unknown type name ‘frobnicate_t’');
  });

  it('names failing tests when nothing was compiled wrong', () => {
    const out = [
      'PASS: t1',
      'FAIL: t-frob',
      'ERROR: t-other',
      '# FAIL:  1',
      'make[3]: *** [Makefile:900: check] Error 1',
    ].join('\n');
    expect(failureLines(out)).toBe('FAIL: t-frob | ERROR: t-other');
  });

  it('names the program a cross build could not run', () => {
    const out = [
      'aarch64-linux-gnu-gcc -o fbc main.o bc.o',
      './fbc -c libmath.b </dev/null >libmath.h',
      '/bin/bash: line 1: ./fbc: cannot execute binary file: Exec format error',
      'make[4]: *** [Makefile:672: libmath.h] Error 126',
      'dh_auto_build: error: make -j1 returned exit code 2',
    ].join('\n');
    expect(failureLines(out)).toBe('/bin/bash: line 1: ./fbc: cannot execute binary file: Exec format error');
  });

  it('finds the program a cross build ran, as bash and as dash report it', () => {
    expect(foreignProgramRun('/bin/bash: line 1: ./fbc: cannot execute binary file: Exec format error\n')).toBe(
      './fbc',
    );
    expect(
      foreignProgramRun('cc -o gen gen.c\n./gen: 1: \x7fELF\x02\x01\x01: not found\n./gen: 2: l: not found\n'),
    ).toBe('./gen');
    expect(foreignProgramRun('src/main.c:12:5: error: unknown type name\n')).toBeNull();
  });

  it('falls back to a build tool’s own error line', () => {
    expect(failureLines('checking for cc... no\nconfigure: error: no acceptable C compiler found in $PATH\n')).toBe(
      'configure: error: no acceptable C compiler found in $PATH',
    );
  });

  it('says nothing when only the plumbing spoke', () => {
    expect(
      failureLines('make[1]: *** [Makefile:4: all] Error 2\npocketbuild: dpkg-buildpackage exited with status 2\n'),
    ).toBe('');
  });
});

describe('unmet build-dependencies', () => {
  const apt = [
    'The following packages have unmet dependencies:',
    ' builddeps:/srv/pocketbuild/var/work/01m8/in/x-1.0 : Depends: nonexistent-foo but it is not installable',
    '                 Depends: libc6 (>= 99)',
    '                 Depends: libbar-dev (= 2.0-1) but 1.9-3 is to be installed',
    'E: Unable to correct problems, you have held broken packages.',
  ].join('\n');

  it('parses apt’s resolver report without the server path', () => {
    expect(parseUnmet(apt)).toEqual([
      { relation: 'nonexistent-foo', name: 'nonexistent-foo', apt: 'it is not installable' },
      { relation: 'libc6 (>= 99)', name: 'libc6' },
      { relation: 'libbar-dev (= 2.0-1)', name: 'libbar-dev', apt: '1.9-3 is to be installed' },
    ]);
    expect(JSON.stringify(parseUnmet(apt))).not.toContain('/srv');
  });

  it('explains each one with what the archive has', () => {
    const [missing, tooOld, pinned] = parseUnmet(apt);
    expect(explainUnmet(missing!, undefined)).toBe(
      "nonexistent-foo: no package nonexistent-foo in the archive's configured suite and components nor in the pocket",
    );
    expect(explainUnmet(tooOld!, '2.36-9')).toBe('libc6 (>= 99): only libc6 2.36-9 is available');
    expect(explainUnmet(pinned!, '1.9-3')).toBe('libbar-dev (= 2.0-1): only libbar-dev 1.9-3 is available');
    expect(explainUnmet(pinned!, '2.0-1')).toBe(
      'libbar-dev (= 2.0-1): 1.9-3 is to be installed (available: libbar-dev 2.0-1)',
    );
  });
});

describe('debBuildOptions', () => {
  it('adds parallel= from the CPUs of one slot', () => {
    expect(debBuildOptions('', 1, 8)).toBe('parallel=8');
    expect(debBuildOptions('nocheck', 3, 8)).toBe('nocheck parallel=2');
    expect(debBuildOptions('', 4, 2)).toBe('parallel=1');
  });
  it('keeps the pocket’s own parallel=', () => {
    expect(debBuildOptions('parallel=1 nocheck', 1, 8)).toBe('parallel=1 nocheck');
  });
});
