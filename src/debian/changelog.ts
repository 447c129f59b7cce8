/**
 * The first entry of debian/changelog (deb-changelog(5)): the one that names the version being
 * built. Later entries are never read, so history with ancient formats cannot break a build.
 */
import { PocketbuildError } from '../util/errors.js';
import { parseVersion } from './version.js';

/** What the newest debian/changelog entry says about the upload. */
export interface ChangelogHead {
  source: string;
  /** The version exactly as written; it has passed `parseVersion`. */
  version: string;
  /** The target distribution(s), space-separated when there are several. */
  distribution: string;
  /** The urgency keyword in lower case, without any comment; 'unknown' when absent, like dpkg. */
  urgency: string;
  /** "Name <email>" from the trailer line. */
  maintainer: string;
  /** The trailer's date as written. */
  date: string;
  /** `date` as Unix seconds. */
  timestamp: number;
}

// Source package names per Debian Policy 5.6.1; stricter than dpkg's changelog regex, but
// dpkg-source refuses anything else later anyway.
const SOURCE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const DIST_NAME = /^[-+0-9a-z.]+$/i;
const HEADER = /^(\S+) \(([^() \t]+)\)((?:[ \t]+[^ \t;]+)+);(.*?)\s*$/;
const TRAILER = /^ -- (.*) <(.*)>( {1,2})(\S.*?)\s*$/;
const DATE = /^(?:([A-Za-z]+), *)?(\d{1,2}) +([A-Za-z]+) +(\d{4}) +(\d{1,2}):(\d\d):(\d\d) +([-+])(\d\d)(\d\d)$/;
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function fail(
  line: number,
  problem: string,
  text?: string,
  remedy = 'fix the newest entry (see deb-changelog(5))',
): PocketbuildError {
  return new PocketbuildError('InvalidChangelog', `debian/changelog line ${line}: ${problem}; ${remedy}.`, {
    line,
    ...(text === undefined ? {} : { text }),
  });
}

// Lines dpkg-parsechangelog skips wherever they appear: comments and RCS keywords.
const isIgnorable = (l: string): boolean => l.startsWith('# ') || /^\/\*.*\*\//.test(l) || /^\$\w+:.*\$/.test(l);

function parseHeader(text: string, line: number): Omit<ChangelogHead, 'maintainer' | 'date' | 'timestamp'> {
  const m = HEADER.exec(text);
  if (!m) {
    throw fail(line, 'the entry header must look like "package (version) distribution; urgency=medium"', text);
  }
  const [, source = '', version = '', dists = '', meta = ''] = m;
  if (!SOURCE_NAME.test(source)) {
    throw fail(
      line,
      `source package name ${JSON.stringify(source)} must be at least two characters of a-z, 0-9, "+", "-" or "." starting with a letter or digit`,
      text,
    );
  }
  try {
    parseVersion(version);
  } catch (e) {
    const reason = e instanceof PocketbuildError ? String(e.data.reason) : String(e);
    throw fail(line, `version ${JSON.stringify(version)} is invalid because ${reason}`, text);
  }
  const distributions = dists.trim().split(/[ \t]+/);
  for (const d of distributions) {
    if (!DIST_NAME.test(d))
      throw fail(
        line,
        `distribution ${JSON.stringify(d)} contains characters other than letters, digits, "+", "-" and "."`,
        text,
      );
  }

  let urgency: string | undefined;
  const seen = new Set<string>();
  const options = meta.trim();
  for (const opt of options === '' ? [] : options.split(/\s*,\s*/)) {
    const kv = /^([-0-9a-z]+)=\s*(.*\S)$/i.exec(opt);
    if (!kv) throw fail(line, `${JSON.stringify(opt)} after ";" is not a keyword=value item`, text);
    const key = (kv[1] ?? '').toLowerCase();
    const value = kv[2] ?? '';
    if (seen.has(key)) throw fail(line, `the keyword ${JSON.stringify(key)} is given twice`, text);
    seen.add(key);
    if (key === 'urgency') {
      // A parenthesised comment may follow the keyword, as in "high (security fix)".
      const u = /^([-0-9a-z]+)(?:\s+.*)?$/i.exec(value);
      if (!u) throw fail(line, `urgency ${JSON.stringify(value)} is not a single word such as "medium"`, text);
      urgency = (u[1] ?? '').toLowerCase();
    } else if (key === 'binary-only') {
      if (value !== 'yes') throw fail(line, `binary-only may only be "yes", not ${JSON.stringify(value)}`, text);
    } else if (!/^x[bcs]+-/.test(key)) {
      throw fail(
        line,
        `the keyword ${JSON.stringify(key)} is not one dpkg knows (urgency, binary-only, or X[BCS]-*)`,
        text,
      );
    }
  }
  return { source, version, distribution: distributions.join(' '), urgency: urgency ?? 'unknown' };
}

// setUTCFullYear, unlike Date.UTC, does not read years below 100 as 19xx.
function utcSeconds(year: number, month: number, day: number, h: number, m: number, s: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(h, m, s, 0);
  return d.getTime() / 1000;
}

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month + 1, 0);
  return d.getUTCDate();
}

function parseTrailer(text: string, line: number): Pick<ChangelogHead, 'maintainer' | 'date' | 'timestamp'> {
  const m = TRAILER.exec(text);
  if (!m) {
    throw fail(line, 'the trailer must look like " -- Name <email>  Thu, 01 Jan 2024 00:00:00 +0000"', text);
  }
  const [, name = '', email = '', gap = '', date = ''] = m;
  if (gap !== '  ') throw fail(line, 'the email address and the date must be separated by exactly two spaces', text);
  if (name.trim() === '' || email.trim() === '')
    throw fail(line, 'the trailer needs both a maintainer name and an email address', text);
  const d = DATE.exec(date);
  if (!d) {
    throw fail(
      line,
      `date ${JSON.stringify(date)} is not in the form "Thu, 01 Jan 2024 00:00:00 +0000" (as "date -R" prints)`,
      text,
    );
  }
  const [, wday, dd = '', mon = '', yyyy = '', hh = '', mi = '', ss = '', sign = '', tzh = '', tzm = ''] = d;
  if (wday !== undefined && !WEEKDAYS.includes(wday)) {
    throw fail(line, `${JSON.stringify(wday)} is not an abbreviated day of the week (Mon … Sun)`, text);
  }
  const month = MONTHS.indexOf(mon);
  if (month < 0) throw fail(line, `${JSON.stringify(mon)} is not an abbreviated month name (Jan … Dec)`, text);
  const [day, year, hour, minute, second] = [dd, yyyy, hh, mi, ss].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetMinutes = Number(tzh) * 60 + Number(tzm);
  if (day < 1 || day > daysInMonth(year, month)) throw fail(line, `${mon} ${year} has no day ${day}`, text);
  if (hour > 23 || minute > 59 || second > 60) throw fail(line, `time ${hh}:${mi}:${ss} is out of range`, text);
  if (Number(tzm) > 59) throw fail(line, `time zone offset ${sign}${tzh}${tzm} has more than 59 minutes`, text);
  const local = utcSeconds(year, month, day, hour, minute, second);
  const timestamp = local - (sign === '-' ? -1 : 1) * offsetMinutes * 60;
  return { maintainer: `${name} <${email}>`, date, timestamp };
}

/**
 * Parse the newest entry of a debian/changelog. Throws `InvalidChangelog` naming the offending
 * line when that entry is malformed; nothing after its trailer line is looked at.
 */
export function parseChangelogHead(text: string): ChangelogHead {
  const lines = text.split(/\r?\n/);
  let header: ReturnType<typeof parseHeader> | undefined;
  let sawChange = false;
  for (let idx = 0; idx < lines.length; idx++) {
    const l = lines[idx] ?? '';
    const n = idx + 1;
    if (isIgnorable(l)) continue;
    if (header === undefined) {
      if (l.trim() === '') {
        if (lines.slice(idx).every((rest) => rest.trim() === '')) break;
        throw fail(n, 'the file must start with an entry header, not a blank line');
      }
      if (/^\s/.test(l)) throw fail(n, 'the entry header must start at the left margin', l);
      header = parseHeader(l, n);
      continue;
    }
    if (l.trim() === '') continue;
    if (l.startsWith(' --')) {
      if (!sawChange) throw fail(n, 'the entry has no change lines between its header and its trailer', l);
      return { ...header, ...parseTrailer(l, n) };
    }
    if (/^\S/.test(l))
      throw fail(n, 'a new heading appears before the trailer line (" -- Name <email>  date") of the first entry', l);
    if (!/^\s{2,}\S/.test(l)) throw fail(n, 'change lines must be indented by at least two spaces', l);
    sawChange = true;
  }
  // A trailing newline leaves one empty string at the end of `lines`; don't count it.
  const last = text.endsWith('\n') ? lines.length - 1 : lines.length;
  if (header === undefined) {
    throw fail(1, 'the file has no entries', undefined, 'add one, for example with "dch --create"');
  }
  throw fail(Math.max(last, 1), 'the file ends before the first entry\'s trailer line (" -- Name <email>  date")');
}
