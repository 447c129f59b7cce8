/**
 * The lines of a failed build's output that say why it failed, for the result's reason: a
 * user reading `status` or a notification should see the compiler's error, not "exit
 * status 2". Pure: it reads the build's own output and nothing else.
 */

/* Only the tail matters, and it bounds the regex work on a huge log. */
const TAIL_LINES = 400;
const MAX_LINES = 3;
const MAX_LINE_CHARS = 300;

/* From most to least telling: a tool's own diagnosis beats make's "Error 1" echo of it. */
const PATTERNS: RegExp[] = [
  /: (fatal )?error: /, // gcc, clang, ld, go vet
  /\bundefined reference to\b|\bcannot find -l\S+|ld: .*: No such file/, // the linker
  /cannot execute binary file: Exec format error/, // a cross build running what it built for another machine
  /^(FAIL|ERROR):? |^# FAIL |^not ok \d+|Failed tests?:|Tests: \d+ Failed|\d+ tests? failed|^FAIL\s/, // test suites (automake, TAP, ctest, go)
  /^CMake Error|^configure: error: |^Error: |^error: |^E: |^dh_\S+: error: |^dpkg-source: error: |^dpkg-checkbuilddeps: error: /, // build tools
  /\bcommand not found\b|: not found$|No such file or directory/,
];
/* Our own plumbing and dpkg-buildpackage's summary say nothing the lines above did not. */
const NOISE =
  /^pocketbuild[:-]|^dh_\S+: error: .* returned exit code \d+$|^dpkg-buildpackage: error: debian\/rules \S+ subprocess returned exit status|^make(\[\d+\])?: \*\*\* .*Error \d+|^make(\[\d+\])?: (Leaving|Entering) directory/;

/** At most three lines, the most telling kind first, each as it last appeared; '' if none stands out. */
export function failureLines(output: string): string {
  const lines = output
    .split('\n')
    .slice(-TAIL_LINES)
    .map((l) => l.replace(/\r$/, '').trimEnd())
    .filter((l) => l.trim() && !NOISE.test(l.trim()));
  for (const pattern of PATTERNS) {
    const hits = lines.filter((l) => pattern.test(l.trim()));
    if (hits.length) {
      const unique = [...new Set(hits.slice(-MAX_LINES * 3))].slice(-MAX_LINES);
      return unique.map((l) => (l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS)}…` : l.trim())).join(' | ');
    }
  }
  return '';
}

/**
 * The program a build ran that was built for another machine (a cross build running what it
 * compiled), or null. bash says so; dash, make's shell, takes the ELF file for a script and
 * fails on its first "line".
 */
export function foreignProgramRun(output: string): string | null {
  const tail = output.split('\n').slice(-TAIL_LINES);
  for (const line of tail) {
    const m =
      /(?:^|: )(\S+): cannot execute binary file: Exec format error/.exec(line) ?? /^(\S+): 1: \x7fELF/.exec(line);
    if (m) return m[1]!;
  }
  return null;
}
