import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareVersions, mangleVersionForGitTag, parseVersion } from '../../src/debian/version.js';
import { PocketbuildError } from '../../src/util/errors.js';

const DPKG = '/usr/bin/dpkg';
const work = mkdtempSync(join(tmpdir(), 'pocketbuild-version-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Run a shell loop over `lines` (one item per line) and return one output line per item. */
function shellLoop(name: string, lines: string[], body: string): string[] {
  const file = join(work, name);
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  // One sh process forking dpkg per item keeps ~2000 dpkg runs to a few seconds.
  const r = spawnSync('sh', ['-c', `while IFS= read -r line; do ${body}; done < "$1"`, 'sh', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`shell loop failed: ${r.stderr}`);
  const out = r.stdout.split('\n').slice(0, -1);
  if (out.length !== lines.length) throw new Error(`expected ${lines.length} results, got ${out.length}: ${r.stderr}`);
  return out;
}

/** dpkg --validate-version for each version: true when dpkg accepts it without complaint. */
function dpkgValid(versions: string[]): boolean[] {
  return shellLoop('validate', versions, `${DPKG} --validate-version -- "$line" >/dev/null 2>&1; echo $?`).map(
    (rc) => rc === '0',
  );
}

/** dpkg --compare-versions as -1/0/1, or 'error' where dpkg refuses a version outright. */
function dpkgCompare(pairs: Array<[string, string]>): Array<-1 | 0 | 1 | 'error'> {
  const body =
    `a=\${line%%\t*}; b=\${line#*\t}; ` +
    `${DPKG} --compare-versions -- "$a" lt "$b" 2>/dev/null; r=$?; ` +
    `if [ $r = 0 ]; then echo -1; elif [ $r = 2 ]; then echo error; ` +
    `elif ${DPKG} --compare-versions -- "$a" eq "$b" 2>/dev/null; then echo 0; else echo 1; fi`;
  return shellLoop(
    'compare',
    pairs.map(([a, b]) => `${a}\t${b}`),
    body,
  ).map((s) => (s === 'error' ? 'error' : (Number(s) as -1 | 0 | 1)));
}

function mulberry32(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = Math.imul(t ^ (t >>> 15), 1 | t);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(private readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  number(): string {
    const zeros = this.chance(0.15) ? '0'.repeat(1 + this.int(2)) : '';
    return zeros + this.pick(['0', '1', '2', '3', '9', '10', '11', '99', '100', '2024', String(this.int(1000))]);
  }
  letters(): string {
    return this.pick(['a', 'b', 'z', 'A', 'Z', 'rc', 'beta', 'dfsg', 'git', 'ubuntu', 'deb', 'bpo', 'pre', 'Final']);
  }

  /** Alternating runs of digits and non-digits, as real versions have. */
  part(opts: { first: 'digit' | 'any'; extra: string }): string {
    const seps = ['.', '.', '.', '+', '~', '~~', ...opts.extra];
    let s = opts.first === 'digit' ? this.number() : this.chance(0.5) ? this.number() : this.letters();
    const len = this.int(5);
    for (let i = 0; i < len; i++) {
      const k = this.int(4);
      if (k === 0) s += this.pick(seps) + this.number();
      else if (k === 1) s += this.letters() + (this.chance(0.5) ? this.number() : '');
      else if (k === 2) s += this.pick(seps) + this.letters();
      else s += this.pick(seps);
    }
    if (this.chance(0.15)) s += this.pick(['~', '~~', '+', '.', '~rc1', '+dfsg', '~~a']);
    return s;
  }

  version(): string {
    const epoch = this.chance(0.3) ? `${this.pick(['0', '1', '2', '00', '1', '3', '99', '2147483647'])}:` : '';
    const hasRev = this.chance(0.6);
    const extra = (hasRev ? '-' : '') + (epoch ? ':' : '');
    let s = epoch + this.part({ first: 'digit', extra });
    if (hasRev) {
      s += `-${this.chance(0.3) ? this.pick(['0', '1', '2', '10', '0ubuntu1', '1~bpo12+1', '3+deb12u1', '1.1', '1+b1']) : this.part({ first: 'any', extra: '' })}`;
    }
    return s;
  }

  /** A nearby version, so that most pairs differ in one interesting spot or not at all. */
  mutate(v: string): string {
    switch (this.int(14)) {
      case 0:
        return `${v}~`;
      case 1:
        return `${v}~~`;
      case 2:
        return `${v}+1`;
      case 3:
        return `${v}a`;
      case 4:
        return v.replace(/\d+/, (d) => `0${d}`); // leading zero: equal by value
      case 5:
        return /^\d+:/.test(v) ? v.replace(/^\d+:/, '') : `0:${v}`; // default epoch: equal
      case 6:
        return v.includes('-') ? v.replace(/-[^-]*$/, (r) => `${r}.0`) : `${v}-0`; // "-0" equals no revision
      case 7:
        return v.replace(/(\d+)(?!.*\d)/, (d) => String(Number(d) + 1));
      case 8:
        return v.replace('.', '+');
      case 9:
        return v.replace(/[a-z]/i, (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()));
      case 10:
        return v.replace(/^(\d+:)?/, (e) => `${e}~`); // leading tilde; dpkg rejects, gets skipped
      case 11:
        return `${this.int(3)}:${v.replace(/^\d+:/, '')}`;
      case 12:
        return v.replace(/\.0(?=\D|$)/, '.00');
      default:
        return this.version();
    }
  }
}

describe('compareVersions against dpkg --compare-versions', () => {
  it('agrees with dpkg on at least 500 generated valid pairs', () => {
    const g = new Gen(mulberry32(0x5eed_1e55));
    const candidates: Array<[string, string]> = [];
    for (let i = 0; i < 700; i++) {
      const a = g.version();
      const b = g.chance(0.75) ? g.mutate(g.chance(0.3) ? g.mutate(a) : a) : g.version();
      candidates.push(g.chance(0.5) ? [a, b] : [b, a]);
    }
    // Hand-picked pairs ride along so the same oracle checks them.
    candidates.push(
      ['1.0', '1.00'],
      ['0:1', '1'],
      ['1.0', '1.0-0'],
      ['1.0~', '1.0'],
      ['1.0~~', '1.0~'],
      ['1.0~~a', '1.0~'],
      ['1.0a', '1.0+'],
      ['2147483647:0', '1:9'],
      ['1.0-1~bpo12+1', '1.0-1'],
      ['1.0-1+b1', '1.0-1.1'],
    );

    const unique = [...new Set(candidates.flat())];
    const verdicts = dpkgValid(unique);
    const valid = new Map(unique.map((v, i) => [v, verdicts[i] ?? false]));
    const pairs = candidates.filter(([a, b]) => valid.get(a) && valid.get(b));
    expect(pairs.length).toBeGreaterThanOrEqual(500);

    const expected = dpkgCompare(pairs);
    const mismatches = pairs
      .map(([a, b], i) => ({ a, b, dpkg: expected[i], ours: compareVersions(a, b) }))
      .filter((r) => r.dpkg !== r.ours);
    expect(mismatches).toEqual([]);

    // The pairs must actually exercise all three outcomes and the tricky characters.
    const outcomes = new Set(expected);
    expect([...outcomes].sort()).toEqual([-1, 0, 1]);
    expect(expected.filter((r) => r === 0).length).toBeGreaterThan(50);
    const all = pairs.flat().join(' ');
    for (const needle of ['~~', ':', '+', '-', '.', '2147483647:', '00']) expect(all).toContain(needle);
  });

  it('agrees with dpkg on versions dpkg accepts with a warning, and throws where dpkg refuses', () => {
    const g = new Gen(mulberry32(42));
    const odd = [
      'a1.0',
      'Z',
      '-0:1',
      '-1:1',
      '+2:1',
      '1.0_1',
      '1.0@',
      '1.0ä',
      '1.0é2',
      '1.0-1_2',
      '~1',
      '+1',
      '1.0=',
      'x:1',
      ':1',
      '1-',
    ];
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 150; i++) {
      const a = g.chance(0.6) ? g.pick(odd) : g.version();
      const tail = g.pick(['', 'z', '+', '~', 'ä', '_', 'A', '0']);
      pairs.push([a, g.chance(0.5) ? `${a}${tail}` : g.pick(odd)]);
    }
    // Non-ASCII bytes sort between letters and punctuation only because dpkg's char is signed.
    pairs.push(['1.0ä', '1.0_'], ['1.0ä', '1.0z'], ['1.0é2', '1.0+'], ['1.0ä', '1.0~']);
    const expected = dpkgCompare(pairs);
    const results = pairs.map(([a, b], i) => {
      let ours: -1 | 0 | 1 | 'error';
      try {
        ours = compareVersions(a, b);
      } catch (e) {
        expect(e).toBeInstanceOf(PocketbuildError);
        ours = 'error';
      }
      return { a, b, dpkg: expected[i], ours };
    });
    expect(results.filter((r) => r.dpkg !== r.ours)).toEqual([]);
    expect(expected).toContain('error');
  });
});

describe('compareVersions', () => {
  it("reads epochs the way dpkg's strtol() does, whitespace and signs included", () => {
    // Line-based batches cannot carry these, so each goes to dpkg as its own argv.
    for (const v of ['\v1:1', '\f2:0', '\r1:1', '\n+1:1', '\t-0:1']) {
      const dpkgSaysEqual = spawnSync(DPKG, ['--compare-versions', '--', v, 'eq', '1:1'], { stdio: 'ignore' }).status;
      const dpkgSaysLess = spawnSync(DPKG, ['--compare-versions', '--', v, 'lt', '1:1'], { stdio: 'ignore' }).status;
      const want = dpkgSaysEqual === 0 ? 0 : dpkgSaysLess === 0 ? -1 : 1;
      expect(compareVersions(v, '1:1'), JSON.stringify(v)).toBe(want);
    }
  });

  it.each([
    ['1.0~rc1', '1.0', -1],
    ['1.0~~', '1.0~~a', -1],
    ['1.0~~a', '1.0~', -1],
    ['1.0~', '1.0', -1],
    ['1.0', '1.0a', -1],
    ['1.0a', '1.0+', -1],
    ['1.0A', '1.0a', -1],
    ['1.0', '1.00', 0],
    ['0:1', '1', 0],
    ['1.0', '1.0-0', 0],
    ['1.2.10', '1.2.9', 1],
    ['10', '9', 1],
    ['1:0.1', '2.0', 1],
    ['2147483647:1', '1:99', 1],
    ['2.10-3', '2.10-3+deb12u1', -1],
    ['1.0-1~bpo12+1', '1.0-1', -1],
    ['1.0-1+b1', '1.0-1.1', -1],
    ['1.0-1', '1.0-1+b1', -1],
    ['2.10-3', '2.10-3', 0],
  ] as const)('%s vs %s is %i', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
    expect(compareVersions(b, a)).toBe(want === 0 ? 0 : -want);
  });

  it('accepts already parsed versions', () => {
    expect(compareVersions(parseVersion('1:2.0-1'), '1:2.0-2')).toBe(-1);
  });

  it('throws InvalidVersion for versions dpkg refuses', () => {
    expect(() => compareVersions('', '1')).toThrowError(PocketbuildError);
    expect(() => compareVersions('1', '1:')).toThrowError(/not a valid Debian version/);
  });
});

describe('parseVersion', () => {
  it.each([
    ['2.10-3', { epoch: 0, upstream: '2.10', revision: '3' }],
    ['2.10', { epoch: 0, upstream: '2.10', revision: '' }],
    ['1:2.0~rc1-0ubuntu1', { epoch: 1, upstream: '2.0~rc1', revision: '0ubuntu1' }],
    ['1:2:3-4', { epoch: 1, upstream: '2:3', revision: '4' }],
    ['1.0-2-3', { epoch: 0, upstream: '1.0-2', revision: '3' }],
    ['0001:1', { epoch: 1, upstream: '1', revision: '' }],
    ['2147483647:1', { epoch: 2147483647, upstream: '1', revision: '' }],
    ['1.0+dfsg~~-1~bpo12+1', { epoch: 0, upstream: '1.0+dfsg~~', revision: '1~bpo12+1' }],
  ])('parses %s', (s, want) => {
    expect(parseVersion(s)).toEqual(want);
  });

  it.each([
    '',
    ' ',
    ':1.0',
    '1:',
    'a:1.0',
    '1a:1.0',
    '-1:1.0',
    '2147483648:1',
    '99999999999999999999:1',
    '1.0-',
    '1:-1',
    'a1.0', // dpkg only warns; we refuse
    '~1',
    '1.0_1',
    '1.0-1_2',
    '1.0-1:2',
    '1.0 1',
    '1.0ä',
    '1:2.0-1\n',
  ])('rejects %j', (s) => {
    let err: unknown;
    try {
      parseVersion(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PocketbuildError);
    const pe = err as PocketbuildError;
    expect(pe.code).toBe('InvalidVersion');
    expect(pe.data.version).toBe(s);
    expect(pe.message).toMatch(/^Version .* deb-version\(7\)\.$/);
  });

  it('refuses forms dpkg tolerates but deb-version(7) does not allow', () => {
    const lax = [' 1.0', '1.0 ', '\t1.0', '+1:1.0', '-0:1.0', ' 1:1.0'];
    expect(dpkgValid(lax)).toEqual(lax.map(() => true));
    for (const s of lax) expect(() => parseVersion(s), s).toThrowError(PocketbuildError);
  });

  it('accepts exactly what dpkg --validate-version accepts on random strings', () => {
    const g = new Gen(mulberry32(7));
    const alphabet = ['0', '1', '9', '00', 'a', 'Z', '.', '+', '~', '-', ':', '_', '@', ' ', 'ä', '1.0', '2:', '-1'];
    const strings: string[] = [];
    for (let i = 0; i < 400; i++) {
      let s = '';
      const len = 1 + g.int(7);
      for (let j = 0; j < len; j++) s += g.pick(alphabet);
      // Leading/trailing blanks and signed epochs are where we are knowingly stricter (above).
      s = s.trim();
      if (/^[+-]/.test(s) || s === '') continue;
      strings.push(s);
    }
    const dpkg = dpkgValid(strings);
    const disagreements = strings
      .map((s, i) => {
        let ours = true;
        try {
          parseVersion(s);
        } catch {
          ours = false;
        }
        return { s, dpkg: dpkg[i], ours };
      })
      .filter((r) => r.dpkg !== r.ours);
    expect(disagreements).toEqual([]);
    expect(dpkg.filter(Boolean).length).toBeGreaterThan(20);
    expect(dpkg.filter((x) => !x).length).toBeGreaterThan(20);
  });
});

describe('mangleVersionForGitTag', () => {
  it.each([
    ['2.10-3', '2.10-3'],
    ['1:2.0~rc1-1', '1%2.0_rc1-1'],
    ['1:2.0~~-1~bpo12+1', '1%2.0__-1_bpo12+1'],
    ['1.0..1', '1.0.#.1'],
    ['1...2', '1.#.#.2'],
    ['1.0.', '1.0.#'],
    ['1.0.lock', '1.0.#lock'],
    ['1.0-1.lock', '1.0-1.#lock'],
    ['1.0lock', '1.0lock'],
    ['1.lock.2', '1.lock.2'],
    ['1.0-1.', '1.0-1.#'],
  ])('%s becomes %s', (v, want) => {
    expect(mangleVersionForGitTag(v)).toBe(want);
  });

  it('rejects invalid versions', () => {
    expect(() => mangleVersionForGitTag('1.0_1')).toThrowError(PocketbuildError);
  });

  it('produces names git accepts as tags', () => {
    const g = new Gen(mulberry32(99));
    const versions = ['1.0..1', '1.0.lock', '1.0.', '1:2.0~rc1-1', '1...2'];
    for (let i = 0; i < 40; i++) versions.push(g.version());
    const valid = dpkgValid(versions);
    const tags = versions.filter((_, i) => valid[i]).map((v) => `refs/tags/unstable/${mangleVersionForGitTag(v)}`);
    expect(tags.length).toBeGreaterThan(30);
    const rcs = shellLoop('refs', tags, 'git check-ref-format "$line"; echo $?');
    expect(tags.filter((_, i) => rcs[i] !== '0')).toEqual([]);
  });
});
