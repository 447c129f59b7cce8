import { randomBytes } from 'node:crypto';
import { UsageError } from '../util/errors.js';

// The grammar of each field is util/names.ts's; when changing it, update README.md ("SSH").
import { COMMIT_ID, DEBIAN_VERSION, PACKAGE_NAME, POCKET_NAME, PRINCIPAL_NAME, REQUEST_ID } from '../util/names.js';
/** Request ids: 10 chars of millisecond time + 6 random, in lower-case Crockford base32, so names sort by age. */
export { REQUEST_ID as ID_RE };

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export type Origin = 'cli' | 'ssh' | 'push';

/** One queued build request; the file in queue/ is exactly this object as JSON. */
export interface Request {
  v: 1;
  id: string;
  pocket: string;
  package: string;
  /** Full commit id, resolved at submit time. */
  commit: string;
  /** What the submitter typed for the commit (a branch, tag or prefix), kept for the record. */
  commit_spec: string;
  principal: string;
  origin: Origin;
  /** RFC 3339 UTC. */
  time: string;
  /**
   * Requests of the same batch whose publication this one waits for (dep-wait): they build a
   * binary its Build-Depends names. Absent for a request submitted alone.
   */
  after?: string[];
  /**
   * A promotion (`promote`): nothing is built. The pocket publishes, byte for byte, what
   * pocket `from` publishes of the package at `version`, built by request `build` (whose
   * provenance signs the files; `commit` is the commit it built).
   */
  promote?: Promotion;
}

export interface Promotion {
  from: string;
  version: string;
  build: string;
}

/** What names a request wherever it is shown or recorded (results, status rows, hook events). */
export type RequestKey = Pick<Request, 'id' | 'pocket' | 'package' | 'commit' | 'principal'>;

/** The fields of a request that name it (RequestKey), copied out. */
export function requestKey(r: RequestKey): RequestKey {
  return { id: r.id, pocket: r.pocket, package: r.package, commit: r.commit, principal: r.principal };
}

let lastMs = 0n;
let lastRandom = 0n;

/**
 * A new request id. Within one process, ids from the same millisecond still sort in
 * creation order (the random part is incremented), so per-package FIFO holds for a burst.
 * With `after` (the newest id waiting in the queue), the id sorts after it even when the clock
 * has stepped back since that one was made: the queue builds each package's requests in id
 * order, so an id from a clock set back would overtake requests submitted before it.
 */
export function newRequestId(now = Date.now(), after?: string): string {
  let ms = BigInt(now);
  let rnd: bigint | undefined;
  const afterMs = after ? decode(after.slice(0, 10)) : -1n;
  if (ms <= afterMs) {
    // Another process may be doing the same from the same newest id: a random step, not +1,
    // keeps the two ids apart (past the 30-bit random part, the next millisecond).
    ms = afterMs;
    rnd = decode(after!.slice(10)) + 1n + randomBits(20);
    if (rnd >= 1n << 30n) {
      ms = afterMs + 1n;
      rnd = randomBits(29);
    }
  }
  if (ms < lastMs) {
    ms = lastMs;
    rnd = lastRandom + 1n;
  } else if (ms === lastMs && (rnd === undefined || rnd <= lastRandom)) {
    rnd = lastRandom + 1n;
  }
  rnd ??= randomBits(29); // leave headroom to increment
  lastMs = ms;
  lastRandom = rnd;
  return encode(ms, 10) + encode(rnd, 6);
}

function randomBits(n: number): bigint {
  return BigInt('0x' + randomBytes(4).toString('hex')) & ((1n << BigInt(n)) - 1n);
}

function decode(s: string): bigint {
  let n = 0n;
  for (const c of s) n = (n << 5n) | BigInt(ALPHABET.indexOf(c));
  return n;
}

function encode(n: bigint, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = ALPHABET[Number(n & 31n)] + s;
    n >>= 5n;
  }
  return s;
}

/** A request field not in its form: a UsageError wherever it is found (CLI, SSH, a queue file). */
export class InvalidRequest extends UsageError {}

/** Check one field against its grammar; the message names the field and the rule. */
export function checkField(
  field: 'pocket' | 'package' | 'principal' | 'id' | 'commit' | 'version',
  value: string,
): string {
  const rules = {
    pocket: [POCKET_NAME, 'a pocket name is 1-64 of a-z, 0-9 and "-", starting with a letter or digit'],
    package: [
      PACKAGE_NAME,
      'a package name is a Debian source package name: 2-100 of a-z, 0-9, "+", ".", "-", starting with a letter or digit',
    ],
    principal: [PRINCIPAL_NAME, 'a principal is 1-32 of a-z, 0-9, "_", ".", "-", starting with a letter or "_"'],
    id: [REQUEST_ID, 'a request id is 16 characters of 0-9 and a-z (no i, l, o, u)'],
    commit: [COMMIT_ID, 'a commit is a full 40-character hex id'],
    version: [
      DEBIAN_VERSION,
      'a version is a Debian version: [epoch:]upstream[-revision], starting with a digit, of letters, digits and . + ~ -',
    ],
  } as const;
  const [re, rule] = rules[field];
  if (!re.test(value)) {
    throw new InvalidRequest(`invalid ${field} ${JSON.stringify(value.slice(0, 80))}: ${rule}.`, { field, value });
  }
  return value;
}

/** Parse and check a request file's text; anything unexpected is an InvalidRequest (the file gets quarantined). */
export function parseRequest(text: string): Request {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new InvalidRequest(`not JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InvalidRequest('not a JSON object');
  const r = o as Record<string, unknown>;
  const known = [
    'v',
    'id',
    'pocket',
    'package',
    'commit',
    'commit_spec',
    'principal',
    'origin',
    'time',
    'after',
    'promote',
  ];
  for (const k of Object.keys(r)) if (!known.includes(k)) throw new InvalidRequest(`unknown field "${k}"`);
  if (r.v !== 1) throw new InvalidRequest(`unsupported request version ${JSON.stringify(r.v)}`);
  const str = (k: string): string => {
    if (typeof r[k] !== 'string') throw new InvalidRequest(`field "${k}" must be a string`);
    return r[k] as string;
  };
  const origin = str('origin');
  if (origin !== 'cli' && origin !== 'ssh' && origin !== 'push') throw new InvalidRequest(`unknown origin "${origin}"`);
  const time = str('time');
  if (Number.isNaN(Date.parse(time))) throw new InvalidRequest(`field "time" is not a date: ${time}`);
  let after: string[] | undefined;
  if (r.after !== undefined) {
    if (!Array.isArray(r.after) || r.after.some((x) => typeof x !== 'string'))
      throw new InvalidRequest('field "after" must be a list of request ids');
    after = (r.after as string[]).map((x) => checkField('id', x));
  }
  let promote: Promotion | undefined;
  if (r.promote !== undefined) {
    const p = r.promote as Record<string, unknown> | null;
    if (typeof p !== 'object' || p === null || Object.keys(p).sort().join() !== 'build,from,version')
      throw new InvalidRequest('field "promote" must be {from, version, build}');
    const field = (k: 'from' | 'version' | 'build', f: 'pocket' | 'version' | 'id') => {
      if (typeof p[k] !== 'string') throw new InvalidRequest(`field "promote.${k}" must be a string`);
      return checkField(f, p[k]);
    };
    promote = { from: field('from', 'pocket'), version: field('version', 'version'), build: field('build', 'id') };
  }
  return {
    v: 1,
    id: checkField('id', str('id')),
    pocket: checkField('pocket', str('pocket')),
    package: checkField('package', str('package')),
    commit: checkField('commit', str('commit')),
    commit_spec: str('commit_spec'),
    principal: checkField('principal', str('principal')),
    origin,
    time,
    ...(after ? { after } : {}),
    ...(promote ? { promote } : {}),
  };
}

export function serializeRequest(r: Request): string {
  return JSON.stringify(r, null, 2) + '\n';
}
