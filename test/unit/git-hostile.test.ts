import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportTree } from '../../src/git/export.js';
import { RepoReader } from '../../src/git/object-store.js';
import { isDescendant, readBlobAt, resolveCommit } from '../../src/git/resolve.js';
import { PocketbuildError } from '../../src/util/errors.js';
import { reproducibleGitEnv } from '../helpers/git-env.js';

/*
 * Repositories as someone with push access could leave them, or as a disk could: packs cut
 * short, bytes flipped, deltas that loop or run deep, sizes that lie. Every read must end,
 * quickly, in the right content or a PocketbuildError naming the repository and the object.
 */

let tmp: string;
let gitdir: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-hostile-'));
  gitdir = path.join(tmp, 'hostile.git');
  env = reproducibleGitEnv(tmp);
  git(tmp, ['init', '-q', '--bare', gitdir]);
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function git(cwd: string, args: string[], input?: string | Buffer): string {
  const r = spawnSync('git', ['-c', 'init.defaultBranch=main', ...args], {
    cwd,
    env,
    input,
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

function hashObject(type: string, content: Buffer): string {
  return git(gitdir, ['hash-object', '-w', '--literally', '-t', type, '--stdin'], content);
}

function oidOf(type: string, content: Buffer): string {
  return createHash('sha1').update(`${type} ${content.length}\0`).update(content).digest('hex');
}

/** A commit whose tree holds `oid` as the regular file `name`. */
function commitWithBlob(oid: string, name = 'file'): string {
  const tree = hashObject('tree', Buffer.concat([Buffer.from(`100644 ${name}\0`), Buffer.from(oid, 'hex')]));
  return git(gitdir, ['commit-tree', tree, '-m', 'hostile']);
}

/** What `git archive | tar -x` makes of `commit`. */
function archive(commit: string, dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  const r = spawnSync(
    'sh',
    ['-c', 'git -c tar.umask=022 --git-dir="$1" archive "$2" | tar -xpf - -C "$3"', 'sh', gitdir, commit, dest],
    { env },
  );
  if (r.status !== 0) throw new Error(`git archive | tar: ${r.stderr.toString()}`);
}

function listTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `-> ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) walk(p, r);
      else out[r] = `${(st.mode & 0o777).toString(8)} ${fs.readFileSync(p).toString('base64')}`;
    }
  };
  walk(root, '');
  return out;
}

async function expectError(p: Promise<unknown>, code: string, message?: RegExp): Promise<PocketbuildError> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof PocketbuildError))
      throw new Error(`expected PocketbuildError ${code}, got ${String(e)}`, { cause: e });
    expect(e.code).toBe(code);
    expect(e.message).toMatch(/hostile\.git/);
    if (message) expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

// ---------------------------------------------------------------------------------------
// Real repositories, packed by git.

/** A history whose repack has delta chains: one file edited in many commits, plus others. */
function makeHistory(rounds = 12): { head: string; work: string } {
  const work = path.join(tmp, 'work');
  git(tmp, ['init', '-q', work]);
  const lines = Array.from({ length: 300 }, (_, i) => `line ${i} of a file that changes a little every time\n`);
  for (let round = 0; round < rounds; round++) {
    lines[(round * 23) % lines.length] = `edited in round ${round}\n`;
    fs.writeFileSync(path.join(work, 'big.txt'), lines.join(''));
    fs.mkdirSync(path.join(work, 'src'), { recursive: true });
    fs.writeFileSync(path.join(work, `src/f${round % 4}.c`), `int f${round};\n`);
    if (round === 0) {
      fs.writeFileSync(path.join(work, 'run'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
      fs.symlinkSync('big.txt', path.join(work, 'link'));
    }
    git(work, ['add', '-A']);
    git(work, ['commit', '-q', '-m', `round ${round}`]);
  }
  git(work, ['push', '-q', gitdir, 'main']);
  return { head: git(gitdir, ['rev-parse', 'main']), work };
}

function repack(ofs = true): { pack: string; idx: string } {
  git(gitdir, [
    '-c',
    `repack.useDeltaBaseOffset=${ofs}`,
    'repack',
    '-q',
    '-a',
    '-d',
    '-f',
    '--depth=50',
    '--window=50',
  ]);
  const dir = path.join(gitdir, 'objects/pack');
  const idx = fs.readdirSync(dir).find((n) => n.endsWith('.idx'))!;
  return { idx: path.join(dir, idx), pack: path.join(dir, idx.replace(/\.idx$/, '.pack')) };
}

/** Every object in the repository with its honest content, as git reads it. */
function honestObjects(): Map<string, { type: string; content: Buffer }> {
  const oids = git(gitdir, ['cat-file', '--batch-all-objects', '--batch-check=%(objectname)']).split('\n');
  const r = spawnSync('git', ['cat-file', '--batch'], {
    cwd: gitdir,
    env,
    input: oids.join('\n') + '\n',
    maxBuffer: 64 << 20,
  });
  const out = r.stdout;
  const objects = new Map<string, { type: string; content: Buffer }>();
  let at = 0;
  while (at < out.length) {
    const nl = out.indexOf(10, at);
    const [oid, type, size] = out.toString('latin1', at, nl).split(' ');
    const content = out.subarray(nl + 1, nl + 1 + Number(size));
    objects.set(oid!, { type: type!, content: Buffer.from(content) });
    at = nl + 1 + Number(size) + 1;
  }
  return objects;
}

const CLEAN_CODES = ['CorruptObject', 'ObjectTooLarge', 'DeltaChainTooDeep'];

/**
 * Read every object of `honest` from the repository as it now is, with a fresh reader: each
 * must come back as it was, or fail with a clean error naming the repository and the object.
 * `alsoAllowed` admits other outcomes a particular damage can honestly lead to.
 */
async function readAllCleanly(
  honest: Map<string, { type: string; content: Buffer }>,
  alsoAllowed: (oid: string, got: { type: string; content: Buffer } | null) => boolean = () => false,
): Promise<{ ok: number; failed: number; other: number }> {
  const repo = new RepoReader(gitdir);
  const tally = { ok: 0, failed: 0, other: 0 };
  for (const [oid, want] of honest) {
    let got: { type: string; content: Buffer } | null;
    try {
      got = await repo.read(oid);
    } catch (e) {
      if (!(e instanceof PocketbuildError)) throw new Error(`reading ${oid} threw a raw ${String(e)}`, { cause: e });
      expect(CLEAN_CODES).toContain(e.code);
      expect(e.message).toMatch(/ in hostile\.git /);
      expect(e.message).toMatch(/[.;] [a-z].*\.$/);
      tally.failed++;
      continue;
    }
    if (got !== null && got.type === want.type && got.content.equals(want.content)) tally.ok++;
    else if (alsoAllowed(oid, got)) tally.other++;
    else
      throw new Error(
        `reading ${oid} gave ${got === null ? 'nothing' : `a ${got.type} of ${got.content.length} bytes`}, not the stored ${want.type}`,
      );
  }
  return tally;
}

describe('an honest repository', () => {
  it('exports exactly as git archive does, loose and packed with offset and ref deltas', async () => {
    const { head } = makeHistory();
    const older = git(gitdir, ['rev-parse', 'main~7']);
    const compare = async (variant: string) => {
      for (const commit of [head, older]) {
        const ours = path.join(tmp, `ours-${variant}-${commit}`);
        const theirs = path.join(tmp, `theirs-${variant}-${commit}`);
        await exportTree(gitdir, commit, ours);
        archive(commit, theirs);
        expect(listTree(ours)).toEqual(listTree(theirs));
      }
    };
    await compare('loose');
    for (const ofs of [true, false]) {
      const { idx } = repack(ofs);
      expect(git(gitdir, ['verify-pack', '-v', idx])).toMatch(/chain length = [2-9]/);
      await compare(ofs ? 'ofs' : 'ref');
      expect(await isDescendant(gitdir, head, older)).toBe(true);
      expect(await resolveCommit(gitdir, head.slice(0, 8))).toBe(head);
      expect((await readBlobAt(gitdir, head, 'run'))?.toString()).toBe('#!/bin/sh\necho hi\n');
      const honest = honestObjects();
      const tally = await readAllCleanly(honest);
      expect(tally.failed + tally.other).toBe(0);
      // Prefix lookups in the pack index, against the full list.
      const repo = new RepoReader(gitdir);
      for (const oid of honest.keys()) {
        for (const length of [2, 3, 4, 7]) {
          const prefix = oid.slice(0, length);
          expect((await repo.expand(prefix)).sort()).toEqual(
            [...honest.keys()].filter((o) => o.startsWith(prefix)).sort(),
          );
        }
      }
    }
  });

  it('reports objects and delta chains beyond the configured limits', async () => {
    makeHistory();
    repack();
    const bigBlob = git(gitdir, ['rev-parse', 'main:big.txt']);
    await expectError(
      new RepoReader(gitdir, { maxObjectBytes: 1000 }).read(bigBlob),
      'ObjectTooLarge',
      /over the 1000 bytes size limit/,
    );
    // The blob at the end of the longest delta chain, from `verify-pack -v` lines `<oid> blob <size> <packed> <offset> <depth> <base>`.
    const [deep, chain] = git(gitdir, ['verify-pack', '-v', repack().idx])
      .split('\n')
      .map((l) => /^(\w{40}) blob +\d+ \d+ \d+ (\d+) /.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, Number(m[2])] as const)
      .reduce((a, b) => (b[1] > a[1] ? b : a));
    expect(chain).toBeGreaterThan(2);
    await expectError(
      new RepoReader(gitdir, { maxDeltaDepth: 2 }).read(deep),
      'DeltaChainTooDeep',
      /more than 2 deltas; repack the repository with git repack/,
    );
    expect((await new RepoReader(gitdir, { maxDeltaDepth: chain }).read(deep))?.type).toBe('blob');
  });
});

describe('a pack made by git, then damaged', () => {
  it('cut short: refused before any entry is trusted, and nothing is exported', async () => {
    const { head } = makeHistory();
    const { pack } = repack();
    const data = fs.readFileSync(pack);
    fs.chmodSync(pack, 0o644);
    fs.writeFileSync(pack, data.subarray(0, data.length >> 1));
    const dest = path.join(tmp, 'out');
    await expectError(
      exportTree(gitdir, head, dest),
      'CorruptObject',
      /^object \w{7} in hostile\.git cannot be read from pack-\w+\.pack \(it is truncated or does not match its index\); run git fsck on the repository\.$/,
    );
    expect(fs.existsSync(dest)).toBe(false);
    await expectError(
      isDescendant(gitdir, head, head),
      'CorruptObject',
      new RegExp(`commit|object ${head.slice(0, 7)}`),
    );
  });

  it('cut short with an index forged to match: every entry past the cut fails cleanly', async () => {
    makeHistory();
    const { pack, idx } = repack();
    const honest = honestObjects();
    const data = fs.readFileSync(pack);
    const cut = data.subarray(0, Math.floor(data.length * 0.6));
    fs.chmodSync(pack, 0o644);
    fs.chmodSync(idx, 0o644);
    fs.writeFileSync(pack, cut);
    const index = fs.readFileSync(idx);
    cut.copy(index, index.length - 40, cut.length - 20);
    fs.writeFileSync(idx, index);
    const tally = await readAllCleanly(honest);
    expect(tally.ok).toBeGreaterThan(0);
    expect(tally.failed).toBeGreaterThan(0);
  });

  for (const ofs of [true, false]) {
    it(`with a byte flipped (${ofs ? 'offset' : 'ref'} deltas): right content or a clean error, never a hang or raw error`, async () => {
      makeHistory(4);
      const { pack } = repack(ofs);
      const honest = honestObjects();
      const data = fs.readFileSync(pack);
      fs.chmodSync(pack, 0o644);
      // Every byte of the pack header and of each entry's start (type and size, delta base,
      // zlib header) in two ways, and a sample of the compressed data, which zlib's own checks
      // guard; the trailer is compared with the index, so a few bytes of it suffice.
      const starts = git(gitdir, ['show-index'], fs.readFileSync(pack.replace(/\.pack$/, '.idx')))
        .split('\n')
        .map((l) => Number(l.split(' ')[0]));
      const flips: [number, number][] = [];
      for (let at = 0; at < data.length - 17; at++) {
        if (at < 12 || starts.some((start) => at >= start && at < start + 26)) flips.push([at, 0xff], [at, 0x01]);
        else if (at % 5 === 0) flips.push([at, 0xff]);
      }
      const totals = { ok: 0, failed: 0, other: 0 };
      const started = Date.now();
      for (const [at, mask] of flips) {
        const flipped = Buffer.from(data);
        flipped[at]! ^= mask;
        fs.writeFileSync(pack, flipped);
        const t = await readAllCleanly(honest);
        totals.ok += t.ok;
        totals.failed += t.failed;
      }
      expect(totals.failed).toBeGreaterThan(flips.length);
      expect(Date.now() - started).toBeLessThan(60_000);
    }, 120_000);
  }

  it('with a byte of the index flipped: the stored content of some object, nothing, or a clean error', async () => {
    makeHistory(4);
    const { idx } = repack();
    const honest = honestObjects();
    const contents = [...honest.values()];
    const data = fs.readFileSync(idx);
    fs.chmodSync(idx, 0o644);
    let failed = 0;
    // Every byte of the header and the offsets, a sample of the fan-out table and the names.
    const offsets = 8 + 1024 + honest.size * 24;
    for (let at = 0; at < data.length - 20; at++) {
      if (at >= 8 && at < offsets && at % 3 !== 0) continue;
      const flipped = Buffer.from(data);
      flipped[at]! ^= 0xff;
      fs.writeFileSync(idx, flipped);
      // Pack entries are not hashed on reading (neither does git archive): an offset changed to
      // that of another entry yields that entry, and a changed name makes its object missing.
      const t = await readAllCleanly(
        honest,
        (_oid, got) => got === null || contents.some((c) => c.type === got.type && c.content.equals(got.content)),
      );
      failed += t.failed;
    }
    expect(failed).toBeGreaterThan(0);
  }, 120_000);

  it('with an index cut short: objects cannot be looked up, and the message says why', async () => {
    const { head } = makeHistory();
    const { idx } = repack();
    fs.chmodSync(idx, 0o644);
    fs.writeFileSync(idx, fs.readFileSync(idx).subarray(0, 2000));
    await expectError(
      exportTree(gitdir, head, path.join(tmp, 'out')),
      'CorruptObject',
      /cannot be looked up because objects\/pack\/pack-\w+\.idx cannot be read \(its size does not fit \d+ objects\)/,
    );
    await expectError(resolveCommit(gitdir, head.slice(0, 8)), 'CorruptObject', /cannot be looked up/);
  });
});

// ---------------------------------------------------------------------------------------
// Packs written byte by byte, holding what git itself would never write.

const BLOB = 3;
const OFS_DELTA = 6;
const REF_DELTA = 7;

interface Crafted {
  /** The id the index gives the entry. */
  oid: string;
  type: number;
  /** Uncompressed data: content, or a delta. */
  body: Buffer;
  /** The size the entry header declares; the body's length unless lying. */
  size?: number;
  /** Ofs-delta: the entry this one's base is, by position, or a raw backwards distance. */
  base?: number;
  back?: number;
  /** Ref-delta: the base's id. */
  baseOid?: string;
  /** Replaces header, base and compressed body alike. */
  raw?: Buffer;
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A git delta: base size, result size, then instructions. */
function delta(baseSize: number, resultSize: number, ...ops: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(varint(baseSize)), Buffer.from(varint(resultSize)), ...ops]);
}
function copy(from: number, len: number): Buffer {
  const bytes: number[] = [];
  let op = 0x80;
  for (let i = 0; i < 4; i++) {
    const b = (from >>> (8 * i)) & 0xff;
    if (b) {
      op |= 1 << i;
      bytes.push(b);
    }
  }
  for (let i = 0; i < 3; i++) {
    const b = (len >>> (8 * i)) & 0xff;
    if (b) {
      op |= 0x10 << i;
      bytes.push(b);
    }
  }
  return Buffer.from([op, ...bytes]);
}
function insert(text: string): Buffer {
  return Buffer.concat([Buffer.from([text.length]), Buffer.from(text)]);
}

function entryHeader(type: number, size: number): Buffer {
  const bytes = [(type << 4) | (size % 16)];
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes[bytes.length - 1]! |= 0x80;
    bytes.push(rest % 128);
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(bytes);
}

/** git's encoding of an ofs-delta's backwards distance. */
function ofsDistance(n: number): Buffer {
  const bytes = [n & 127];
  while ((n = Math.floor(n / 128)) > 0) {
    n--;
    bytes.unshift(0x80 | (n & 127));
  }
  return Buffer.from(bytes);
}

/** Write `entries` as a pack with a version-2 index, as if git had stored it. */
function writeCraftedPack(entries: Crafted[]): void {
  const parts: Buffer[] = [Buffer.from('PACK'), Buffer.from([0, 0, 0, 2]), Buffer.alloc(4)];
  parts[2]!.writeUInt32BE(entries.length);
  let offset = 12;
  const offsets: number[] = [];
  for (const e of entries) {
    offsets.push(offset);
    let bytes: Buffer;
    if (e.raw) bytes = e.raw;
    else {
      const head = [entryHeader(e.type, e.size ?? e.body.length)];
      if (e.type === OFS_DELTA) head.push(ofsDistance(e.back ?? offset - offsets[e.base!]!));
      if (e.type === REF_DELTA) head.push(Buffer.from(e.baseOid!, 'hex'));
      bytes = Buffer.concat([...head, zlib.deflateSync(e.body)]);
    }
    parts.push(bytes);
    offset += bytes.length;
  }
  const body = Buffer.concat(parts);
  const packSum = createHash('sha1').update(body).digest();
  const pack = Buffer.concat([body, packSum]);

  const sorted = entries
    .map((e, i) => ({ oid: Buffer.from(e.oid, 'hex'), offset: offsets[i]! }))
    .sort((a, b) => Buffer.compare(a.oid, b.oid));
  const fanout = Buffer.alloc(1024);
  for (let b = 0; b < 256; b++) fanout.writeUInt32BE(sorted.filter((s) => s.oid[0]! <= b).length, b * 4);
  const offsetTable = Buffer.alloc(sorted.length * 4);
  sorted.forEach((s, i) => offsetTable.writeUInt32BE(s.offset, i * 4));
  const idxBody = Buffer.concat([
    Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]),
    fanout,
    ...sorted.map((s) => s.oid),
    Buffer.alloc(sorted.length * 4),
    offsetTable,
    packSum,
  ]);
  const idx = Buffer.concat([idxBody, createHash('sha1').update(idxBody).digest()]);

  const name = `pack-${packSum.toString('hex')}`;
  fs.writeFileSync(path.join(gitdir, 'objects/pack', `${name}.pack`), pack);
  fs.writeFileSync(path.join(gitdir, 'objects/pack', `${name}.idx`), idx);
}

/** A made-up id for an entry whose content is beside the point. */
function fakeOid(label: string): string {
  return createHash('sha1').update(label).digest('hex');
}

const BASE_TEXT = Buffer.from('hello, world\n');
const BASE: Crafted = { oid: oidOf('blob', BASE_TEXT), type: BLOB, body: BASE_TEXT };

describe('a pack crafted to attack the reader', () => {
  it('an honest crafted pack reads and exports, so the other cases test only their flaw', async () => {
    const text = 'hello, world\nand more\n';
    const d: Crafted = {
      oid: oidOf('blob', Buffer.from(text)),
      type: OFS_DELTA,
      base: 0,
      body: delta(13, text.length, copy(0, 13), insert('and more\n')),
    };
    const r: Crafted = { oid: fakeOid('r'), type: REF_DELTA, baseOid: d.oid, body: delta(text.length, 4, copy(0, 4)) };
    writeCraftedPack([BASE, d, r]);
    const repo = new RepoReader(gitdir);
    expect((await repo.read(d.oid))?.content.toString()).toBe(text);
    expect((await repo.read(r.oid))?.content.toString()).toBe('hell');
    const commit = commitWithBlob(d.oid);
    await exportTree(gitdir, commit, path.join(tmp, 'out'));
    expect(fs.readFileSync(path.join(tmp, 'out/file'), 'utf8')).toBe(text);
  });

  const cases: [string, () => Crafted[], string, RegExp][] = [
    [
      'an ofs-delta that is its own base',
      () => [BASE, { oid: fakeOid('self'), type: OFS_DELTA, back: 0, body: delta(13, 1, insert('x')) }],
      'CorruptObject',
      /names a base outside the pack or itself/,
    ],
    [
      'an ofs-delta whose base lies before the pack',
      () => [BASE, { oid: fakeOid('before'), type: OFS_DELTA, back: 100, body: delta(13, 1, insert('x')) }],
      'CorruptObject',
      /names a base outside the pack/,
    ],
    [
      'an ofs-delta distance that never ends',
      () => [
        BASE,
        {
          oid: fakeOid('endless'),
          type: OFS_DELTA,
          body: Buffer.alloc(0),
          raw: Buffer.concat([entryHeader(OFS_DELTA, 3), Buffer.alloc(5000, 0xff)]),
        },
      ],
      'CorruptObject',
      /outside the pack|truncated/,
    ],
    [
      'a ref-delta that is its own base',
      () => [BASE, { oid: fakeOid('a'), type: REF_DELTA, baseOid: fakeOid('a'), body: delta(1, 1, insert('x')) }],
      'CorruptObject',
      /is its own base, through 1 deltas/,
    ],
    [
      "two ref-deltas that are each other's base",
      () => [
        BASE,
        { oid: fakeOid('a'), type: REF_DELTA, baseOid: fakeOid('b'), body: delta(1, 1, insert('x')) },
        { oid: fakeOid('b'), type: REF_DELTA, baseOid: fakeOid('a'), body: delta(1, 1, insert('y')) },
      ],
      'CorruptObject',
      /is its own base, through 2 deltas/,
    ],
    [
      'a ref-delta whose base is missing',
      () => [
        BASE,
        { oid: fakeOid('orphan'), type: REF_DELTA, baseOid: fakeOid('nowhere'), body: delta(1, 1, insert('x')) },
      ],
      'CorruptObject',
      /delta base \w+ of the entry at offset \d+ is missing/,
    ],
    [
      'an entry declaring a terabyte',
      () => [{ ...BASE, oid: fakeOid('huge'), size: 2 ** 40 }],
      'ObjectTooLarge',
      /declares 1024\.0 GiB/,
    ],
    [
      'an entry size with endless continuation bytes',
      () => [
        {
          ...BASE,
          oid: fakeOid('long'),
          raw: Buffer.concat([Buffer.from([0xb0]), Buffer.alloc(40, 0x80), Buffer.from([1])]),
        },
      ],
      'CorruptObject',
      /overlong size/,
    ],
    [
      'an entry of unknown type',
      () => [{ ...BASE, oid: fakeOid('type5'), type: 5 }],
      'CorruptObject',
      /unknown type 5/,
    ],
    [
      'data inflating to more than declared',
      () => [{ ...BASE, oid: fakeOid('more'), size: 5 }],
      'CorruptObject',
      /inflates to more than 5 bytes/,
    ],
    [
      'data inflating to less than declared',
      () => [{ ...BASE, oid: fakeOid('less'), size: 100 }],
      'CorruptObject',
      /inflates to 13 bytes, not 100/,
    ],
    [
      'data that is not zlib',
      () => [
        BASE,
        {
          oid: fakeOid('garbage'),
          type: BLOB,
          body: Buffer.alloc(0),
          raw: Buffer.concat([entryHeader(BLOB, 10), Buffer.from('not zlib at all')]),
        },
      ],
      'CorruptObject',
      /cannot be inflated/,
    ],
    [
      'a delta making more than it declares',
      () => [BASE, { oid: fakeOid('overrun'), type: OFS_DELTA, base: 0, body: delta(13, 5, copy(0, 13)) }],
      'CorruptObject',
      /copies out of bounds/,
    ],
    [
      'a delta making less than it declares',
      () => [BASE, { oid: fakeOid('short'), type: OFS_DELTA, base: 0, body: delta(13, 100, copy(0, 13)) }],
      'CorruptObject',
      /delta makes 13 bytes, not the 100 it declares/,
    ],
    [
      'a delta declaring a terabyte',
      () => [BASE, { oid: fakeOid('bigdelta'), type: OFS_DELTA, base: 0, body: delta(13, 2 ** 40, copy(0, 13)) }],
      'ObjectTooLarge',
      /a delta makes 1024\.0 GiB/,
    ],
    [
      'a delta for a base of another size',
      () => [BASE, { oid: fakeOid('misfit'), type: OFS_DELTA, base: 0, body: delta(14, 1, insert('x')) }],
      'CorruptObject',
      /for a base of 14 bytes, not 13/,
    ],
    [
      'a delta copying past its base',
      () => [BASE, { oid: fakeOid('past'), type: OFS_DELTA, base: 0, body: delta(13, 20, copy(5, 20)) }],
      'CorruptObject',
      /copies out of bounds/,
    ],
    [
      'a delta inserting past its end',
      () => [
        BASE,
        { oid: fakeOid('ins'), type: OFS_DELTA, base: 0, body: Buffer.concat([delta(13, 20), Buffer.from([10, 65])]) },
      ],
      'CorruptObject',
      /inserts out of bounds/,
    ],
    [
      'a delta with the reserved instruction',
      () => [BASE, { oid: fakeOid('zero'), type: OFS_DELTA, base: 0, body: delta(13, 1, Buffer.from([0])) }],
      'CorruptObject',
      /reserved instruction/,
    ],
    [
      'a delta with an endless size',
      () => [
        BASE,
        {
          oid: fakeOid('vsize'),
          type: OFS_DELTA,
          base: 0,
          body: Buffer.concat([Buffer.from([13]), Buffer.alloc(30, 0x80), Buffer.from([0])]),
        },
      ],
      'CorruptObject',
      /overlong size/,
    ],
  ];
  for (const [what, entries, code, message] of cases) {
    it(what, async () => {
      const crafted = entries();
      writeCraftedPack(crafted);
      const target = crafted[crafted.length - 1]!;
      const err = await expectError(new RepoReader(gitdir).read(target.oid), code, message);
      expect(err.message).toContain(target.oid.slice(0, 7));
      expect(err.data).toMatchObject({ oid: target.oid });
      // And through the export, which leaves nothing behind.
      const dest = path.join(tmp, 'out');
      await expectError(exportTree(gitdir, commitWithBlob(target.oid), dest), code);
      expect(fs.existsSync(dest)).toBe(false);
    });
  }

  it("ref-deltas in two packs that are each other's base", async () => {
    writeCraftedPack([
      BASE,
      { oid: fakeOid('a'), type: REF_DELTA, baseOid: fakeOid('b'), body: delta(1, 1, insert('x')) },
    ]);
    writeCraftedPack([{ oid: fakeOid('b'), type: REF_DELTA, baseOid: fakeOid('a'), body: delta(1, 1, insert('y')) }]);
    await expectError(new RepoReader(gitdir).read(fakeOid('a')), 'CorruptObject', /its own base, through 2 deltas/);
  });

  it('a pack with a broken header', async () => {
    writeCraftedPack([BASE]);
    const pack = fs.readdirSync(path.join(gitdir, 'objects/pack')).find((n) => n.endsWith('.pack'))!;
    const file = path.join(gitdir, 'objects/pack', pack);
    const data = fs.readFileSync(file);
    data.write('KCAP', 0);
    fs.writeFileSync(file, data);
    await expectError(new RepoReader(gitdir).read(BASE.oid), 'CorruptObject', /is not a pack/);
    data.write('PACK', 0);
    data.writeUInt32BE(9, 4);
    fs.writeFileSync(file, data);
    await expectError(new RepoReader(gitdir).read(BASE.oid), 'CorruptObject', /unknown version 9/);
  });

  it('a chain of deltas deeper than 50, whatever was read before', async () => {
    const entries: Crafted[] = [BASE];
    let size = BASE_TEXT.length;
    for (let i = 1; i <= 60; i++) {
      entries.push({
        oid: fakeOid(`link ${i}`),
        type: OFS_DELTA,
        base: i - 1,
        body: delta(size, size + 1, copy(0, size), insert('+')),
      });
      size++;
    }
    writeCraftedPack(entries);
    const repo = new RepoReader(gitdir);
    // Reading the middle first fills the base cache; the bound must not depend on it.
    expect((await repo.read(fakeOid('link 50')))?.content.toString()).toBe(`hello, world\n${'+'.repeat(50)}`);
    await expectError(repo.read(fakeOid('link 51')), 'DeltaChainTooDeep', /more than 50 deltas/);
    await expectError(repo.read(fakeOid('link 60')), 'DeltaChainTooDeep');
    await expectError(new RepoReader(gitdir).read(fakeOid('link 60')), 'DeltaChainTooDeep');
  });

  it('a commit whose parent is a looping delta, or no commit at all', async () => {
    const { head } = makeHistory(2);
    writeCraftedPack([
      { oid: fakeOid('a'), type: REF_DELTA, baseOid: fakeOid('b'), body: delta(1, 1, insert('x')) },
      { oid: fakeOid('b'), type: REF_DELTA, baseOid: fakeOid('a'), body: delta(1, 1, insert('y')) },
    ]);
    const tree = git(gitdir, ['rev-parse', `${head}^{tree}`]);
    const child = hashObject(
      'commit',
      Buffer.from(`tree ${tree}\nparent ${fakeOid('a')}\nauthor T <t@e> 0 +0000\ncommitter T <t@e> 0 +0000\n\nx\n`),
    );
    await expectError(isDescendant(gitdir, child, head), 'CorruptObject', /its own base/);
    const blobParent = hashObject(
      'commit',
      Buffer.from(
        `tree ${tree}\nparent ${git(gitdir, ['rev-parse', `${head}:big.txt`])}\nauthor T <t@e> 0 +0000\ncommitter T <t@e> 0 +0000\n\nx\n`,
      ),
    );
    await expectError(isDescendant(gitdir, blobParent, head), 'CorruptObject', /is a blob named as a parent commit/);
  });
});

describe('a loose object crafted to attack the reader', () => {
  function writeLoose(oid: string, data: Buffer): void {
    fs.mkdirSync(path.join(gitdir, 'objects', oid.slice(0, 2)), { recursive: true });
    fs.writeFileSync(path.join(gitdir, 'objects', oid.slice(0, 2), oid.slice(2)), data);
  }

  it('that inflates past the size limit: stopped there', async () => {
    const oid = fakeOid('bomb');
    writeLoose(oid, zlib.deflateSync(Buffer.concat([Buffer.from('blob 5\0'), Buffer.alloc(4 << 20)])));
    await expectError(
      new RepoReader(gitdir, { maxObjectBytes: 1 << 20 }).read(oid),
      'ObjectTooLarge',
      /inflates to more than 1\.0 MiB/,
    );
    await expectError(new RepoReader(gitdir).read(oid), 'CorruptObject', /malformed header/);
  });

  for (const [what, data, message] of [
    ['whose header lies about the size', zlib.deflateSync(Buffer.from('blob 99\0short')), /malformed header/],
    ['whose header never ends', zlib.deflateSync(Buffer.from(`blob ${'9'.repeat(100)}`)), /malformed header/],
    ['of an unknown type', zlib.deflateSync(Buffer.from('evil 1\0x')), /malformed header/],
    [
      'cut short',
      zlib.deflateSync(Buffer.from('blob 1000\0' + 'x'.repeat(1000))).subarray(0, 20),
      /cannot be inflated/,
    ],
    ['that is empty', Buffer.alloc(0), /cannot be inflated/],
  ] as const) {
    it(what, async () => {
      const oid = fakeOid(what);
      writeLoose(oid, data);
      const err = await expectError(new RepoReader(gitdir).read(oid), 'CorruptObject', message);
      expect(err.message).toContain(oid.slice(0, 7));
    });
  }
});
