/**
 * Debian version numbers (deb-version(7)): parsing, ordering and DEP-14 tag mangling.
 *
 * Two levels of strictness live here on purpose. `compareVersions` must order every pair the
 * way `dpkg --compare-versions` does, including versions dpkg only warns about, so it uses a
 * parser that mirrors dpkg's C code quirk for quirk. `parseVersion` is the gate for versions we
 * build and publish, so it also refuses what dpkg merely warns about and what deb-version(7)
 * and dpkg-dev's Perl code (dpkg-source, dpkg-genchanges) would refuse.
 */
import { PocketbuildError } from '../util/errors.js';

/** A version split into its three deb-version(7) parts; `revision` is '' when absent. */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

const INT_MAX = 2 ** 31 - 1;

interface LooseParse {
  version: DebianVersion;
  /** Set when dpkg would accept the version but print a warning about it. */
  warning?: string;
}

function invalid(input: string, reason: string): PocketbuildError {
  return new PocketbuildError(
    'InvalidVersion',
    `Version ${JSON.stringify(input)} is not a valid Debian version (${reason}); ` +
      'use the form [epoch:]upstream[-revision] described in deb-version(7).',
    { version: input, reason },
  );
}

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
// What C's isspace() skips before strtol() reads a number.
const isCSpace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);

/**
 * dpkg's parseversion(), including what its strtol() call tolerates in the epoch (leading
 * whitespace, a sign, "-0"), so that comparisons agree with dpkg on everything it accepts.
 */
function parseLoose(input: string): LooseParse {
  // argv strings cannot hold NUL, so dpkg never sees one; refusing keeps "agree with dpkg" exact.
  if (input.includes('\0')) throw invalid(input, 'it contains a NUL character');
  let start = 0;
  while (isBlank(input[start])) start++;
  if (start === input.length) throw invalid(input, 'it is empty');
  let end = start;
  while (end < input.length && !isBlank(input[end])) end++;
  for (let i = end; i < input.length; i++) {
    if (!isBlank(input[i])) throw invalid(input, 'it contains embedded spaces');
  }
  let s = input.slice(start, end);

  let epoch = 0;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    let i = 0;
    while (isCSpace(s[i])) i++;
    let negative = false;
    if (s[i] === '+' || s[i] === '-') {
      negative = s[i] === '-';
      i++;
    }
    const digitsStart = i;
    while (isDigit(s[i])) i++;
    if (i === digitsStart) throw invalid(input, 'the epoch is empty');
    if (i !== colon) throw invalid(input, 'the epoch is not a number');
    const digits = s.slice(digitsStart, i).replace(/^0+/, '');
    // Compare as text first: the epoch may have more digits than a double holds exactly.
    const magnitude = digits.length > 10 ? Infinity : Number(digits || '0');
    if (negative && magnitude !== 0) throw invalid(input, 'the epoch is negative');
    if (magnitude > INT_MAX) throw invalid(input, `the epoch is larger than ${INT_MAX}`);
    if (colon + 1 === s.length) throw invalid(input, 'nothing follows the epoch colon');
    epoch = magnitude;
    s = s.slice(colon + 1);
  }

  const hyphen = s.lastIndexOf('-');
  const upstream = hyphen >= 0 ? s.slice(0, hyphen) : s;
  const revision = hyphen >= 0 ? s.slice(hyphen + 1) : '';
  if (hyphen >= 0 && revision === '') throw invalid(input, 'the revision after the last hyphen is empty');
  if (upstream === '') throw invalid(input, 'the upstream version is empty');
  // Only dpkg's hard errors may be thrown above this point; from here on dpkg just warns.
  const version = { epoch, upstream, revision };
  if (!isDigit(upstream[0])) {
    return { version, warning: 'the upstream version does not start with a digit' };
  }
  for (const c of upstream) {
    if (!isDigit(c) && !isAlpha(c) && !'.-+~:'.includes(c)) {
      return { version, warning: `the upstream version contains the character ${JSON.stringify(c)}` };
    }
  }
  for (const c of revision) {
    if (!isDigit(c) && !isAlpha(c) && !'.+~'.includes(c)) {
      return { version, warning: `the revision contains the character ${JSON.stringify(c)}` };
    }
  }
  return { version };
}

/**
 * Parse a Debian version, throwing `InvalidVersion` for anything dpkg rejects or warns about,
 * and for the forms deb-version(7) does not allow even though dpkg's C parser lets them
 * through (surrounding whitespace, a signed or space-prefixed epoch).
 */
export function parseVersion(s: string): DebianVersion {
  const { version, warning } = parseLoose(s);
  if (warning !== undefined) throw invalid(s, warning);
  if (s.trim() !== s || /\s/.test(s)) throw invalid(s, 'it contains whitespace');
  const colon = s.indexOf(':');
  if (colon >= 0 && !/^[0-9]+$/.test(s.slice(0, colon))) {
    throw invalid(s, 'the epoch is not an unsigned decimal number');
  }
  return version;
}

const utf8 = new TextEncoder();

/**
 * dpkg's order(): digits (and end of string) weigh 0, letters their ASCII code, '~' -1, and
 * every other byte its value plus 256. Bytes go through a signed `char` as on amd64, which is
 * why non-ASCII bytes land between letters and punctuation.
 */
function order(byte: number | undefined): number {
  if (byte === undefined) return 0;
  if (byte >= 0x30 && byte <= 0x39) return 0;
  if ((byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)) return byte;
  if (byte === 0x7e) return -1;
  return (byte >= 0x80 ? byte - 256 : byte) + 256;
}

const isDigitByte = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;

/** dpkg's verrevcmp() over the UTF-8 bytes, since that is what dpkg sees. */
function compareFragment(aText: string, bText: string): number {
  const a = utf8.encode(aText);
  const b = utf8.encode(bText);
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigitByte(a[i])) || (j < b.length && !isDigitByte(b[j]))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === 0x30) i++;
    while (b[j] === 0x30) j++;
    let firstDiff = 0;
    while (isDigitByte(a[i]) && isDigitByte(b[j])) {
      if (firstDiff === 0) firstDiff = (a[i] as number) - (b[j] as number);
      i++;
      j++;
    }
    if (isDigitByte(a[i])) return 1;
    if (isDigitByte(b[j])) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

function toParsed(v: string | DebianVersion): DebianVersion {
  return typeof v === 'string' ? parseLoose(v).version : v;
}

/**
 * Order two versions exactly as `dpkg --compare-versions` does: -1 if a < b, 0 if equal in
 * value (e.g. "1.0" and "1.00", "0:1" and "1"), 1 if a > b. Versions dpkg only warns about are
 * compared rather than refused; versions dpkg rejects throw `InvalidVersion`.
 */
export function compareVersions(a: string | DebianVersion, b: string | DebianVersion): -1 | 0 | 1 {
  const va = toParsed(a);
  const vb = toParsed(b);
  let r = va.epoch === vb.epoch ? 0 : va.epoch > vb.epoch ? 1 : -1;
  if (r === 0) r = compareFragment(va.upstream, vb.upstream);
  if (r === 0) r = compareFragment(va.revision, vb.revision);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/**
 * Mangle a version for use in a git tag name, per DEP-14: ':' becomes '%', '~' becomes '_',
 * and a '#' goes after any '.' that is followed by '.', ends the version, or starts a final
 * "lock" — the spots git's ref-name rules forbid. Throws `InvalidVersion` for invalid versions.
 */
export function mangleVersionForGitTag(v: string): string {
  parseVersion(v);
  return v
    .replace(/:/g, '%')
    .replace(/~/g, '_')
    .replace(/\.(?=\.|$|lock$)/g, '.#');
}
