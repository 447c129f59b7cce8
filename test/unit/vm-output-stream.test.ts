import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readOutputStream, STREAM_MAGIC } from '../../src/sandbox/vm/output-stream.js';
import { cpioArchive } from '../../src/sandbox/vm/cpio.js';

/**
 * The host side of the VM's output channel reads bytes a hostile guest wrote. Everything
 * but the exact format, within the limits, must be refused, and nothing may be written
 * outside the output directory.
 */
describe('the vm output stream parser', () => {
  let dir: string;
  let out: string;
  const limits = { maxBytes: 1000, maxFiles: 3 };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-vm-stream-'));
    out = path.join(dir, 'out');
    fs.mkdirSync(out);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A device image: the stream, then the zeros of the rest of the disk. */
  const device = (...parts: Array<string | Buffer>): string => {
    const f = path.join(dir, 'device.raw');
    fs.writeFileSync(
      f,
      Buffer.concat([...parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)), Buffer.alloc(4096)]),
    );
    return f;
  };
  const frame = (name: string, data: string | Buffer) =>
    Buffer.concat([Buffer.from(`F ${name} ${Buffer.byteLength(data)}\n`, 'latin1'), Buffer.from(data)]);
  const parse = (f: string, l = limits) => readOutputStream(f, out, l);
  const outside = () => fs.readdirSync(dir).filter((n) => n !== 'out' && n !== 'device.raw');

  it('writes each framed file into the directory and returns the exit status', () => {
    const bin = Buffer.from([0, 1, 2, 0x0a, 0xff, 0x0a]);
    const r = parse(
      device(
        STREAM_MAGIC,
        frame('hello_1.0_all.deb', bin),
        frame('hello_1.0.dsc', 'text\n'),
        frame('empty+1~a', ''),
        'E 0\n',
        'garbage after the end is ignored',
      ),
    );
    expect(r).toEqual({
      reported: true,
      status: 0,
      files: [
        { name: 'hello_1.0_all.deb', size: 6 },
        { name: 'hello_1.0.dsc', size: 5 },
        { name: 'empty+1~a', size: 0 },
      ],
    });
    expect(fs.readFileSync(path.join(out, 'hello_1.0_all.deb'))).toEqual(bin);
    expect(fs.readFileSync(path.join(out, 'hello_1.0.dsc'), 'utf8')).toBe('text\n');
  });

  it('carries a non-zero status with no files', () => {
    expect(parse(device(STREAM_MAGIC, 'E 2\n'))).toEqual({ reported: true, status: 2, files: [] });
  });

  it('reads a disk the guest never wrote as "no report", not as an error', () => {
    expect(parse(device())).toEqual({ reported: false });
  });

  it.each([
    ['path traversal', frame('../escape', 'x')],
    ['a path with a slash', frame('sub/file', 'x')],
    ['an absolute path', frame('/etc/passwd', 'x')],
    ['a dot name', frame('.', 'x')],
    ['a hidden name', frame('.hidden', 'x')],
    ['a name with a newline-free but non-ASCII byte', frame('caf\xe9', 'x')],
    ['a NUL in the name', frame('a\0b', 'x')],
    ['an overlong name', frame('a'.repeat(300), 'x')],
  ])('refuses %s', (_what, f) => {
    expect(() => parse(device(STREAM_MAGIC, f, 'E 0\n'))).toThrow(/BadVmOutput|refused/);
    expect(fs.readdirSync(out)).toEqual([]);
    expect(outside()).toEqual([]);
  });

  it('refuses files over the byte limit, together or alone', () => {
    expect(() => parse(device(STREAM_MAGIC, frame('big', Buffer.alloc(1001)), 'E 0\n'))).toThrow(/over 1000 bytes/);
    expect(() =>
      parse(device(STREAM_MAGIC, frame('a', Buffer.alloc(600)), frame('b', Buffer.alloc(600)), 'E 0\n')),
    ).toThrow(/over 1000 bytes/);
    // A size claim alone is enough: the parser does not read 9 PB to find out.
    expect(() => parse(device(STREAM_MAGIC, 'F huge 9999999999999999\n', 'E 0\n'))).toThrow(/over 1000 bytes/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('refuses too many files', () => {
    expect(() =>
      parse(device(STREAM_MAGIC, frame('a', '1'), frame('b', '2'), frame('c', '3'), frame('d', '4'), 'E 0\n')),
    ).toThrow(/more than 3 files/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('refuses a duplicate name, and a name already in the directory', () => {
    expect(() => parse(device(STREAM_MAGIC, frame('a', '1'), frame('a', '2'), 'E 0\n'))).toThrow(/appears twice/);
    fs.writeFileSync(path.join(out, 'existing'), 'host data');
    expect(() => parse(device(STREAM_MAGIC, frame('existing', 'guest data'), 'E 0\n'))).toThrow(/already exists/);
    expect(fs.readFileSync(path.join(out, 'existing'), 'utf8')).toBe('host data');
  });

  it('does not follow a symlink planted in the directory', () => {
    fs.symlinkSync(path.join(dir, 'target'), path.join(out, 'link'));
    expect(() => parse(device(STREAM_MAGIC, frame('link', 'x'), 'E 0\n'))).toThrow(/refused/);
    expect(fs.existsSync(path.join(dir, 'target'))).toBe(false);
  });

  it('refuses truncated streams', () => {
    const f = (s: string | Buffer) => {
      const p = path.join(dir, 'device.raw');
      fs.writeFileSync(p, s);
      return p;
    };
    expect(() => parse(f(STREAM_MAGIC + 'F a 10\n12345'))).toThrow(/truncated/);
    expect(() => parse(f(STREAM_MAGIC + 'F a 1\nx'))).toThrow(/truncated/);
    expect(() => parse(f(STREAM_MAGIC + 'F a'))).toThrow(/truncated/);
    expect(() => parse(f(STREAM_MAGIC))).toThrow(/truncated/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it.each([
    ['a wrong header', 'POCKETBUILD-OUTPUT 2\nE 0\n'],
    ['text before the header', 'x' + STREAM_MAGIC + 'E 0\n'],
  ])('refuses %s', (_what, stream) => {
    expect(() => parse(device(stream))).toThrow(/does not start with the expected header/);
  });

  it.each([
    ['an unknown frame type', 'X a 1\n'],
    ['a size with a sign', 'F a +1\n'],
    ['a size with leading zeros', 'F a 01\n'],
    ['a negative size', 'F a -1\n'],
    ['a hex size', 'F a 0x10\n'],
    ['extra fields', 'F a 1 2\n'],
    ['a status over 255', 'E 256\n'],
    ['a negative status', 'E -1\n'],
    ['a status with trailing text', 'E 0 ok\n'],
    ['a header line without an end', 'F ' + 'a'.repeat(5000)],
    ['a CR in the header', 'F a 1\r\n'],
  ])('refuses %s', (_what, bad) => {
    expect(() => parse(device(STREAM_MAGIC, bad, 'E 0\n'))).toThrow(/refused/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('removes what it wrote when a later frame is bad', () => {
    expect(() => parse(device(STREAM_MAGIC, frame('good.deb', 'ok'), frame('../bad', 'x'), 'E 0\n'))).toThrow(
      /refused/,
    );
    expect(fs.readdirSync(out)).toEqual([]);
  });
});

describe('the initramfs archive', () => {
  it('is newc cpio with root-owned members, 4-byte alignment and a trailer', () => {
    const a = cpioArchive([
      { kind: 'dir', name: 'bin' },
      { kind: 'file', name: 'init', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
      { kind: 'chardev', name: 'dev/console', major: 5, minor: 1 },
    ]);
    expect(a.length % 4).toBe(0);
    expect(a.subarray(0, 6).toString()).toBe('070701');
    const text = a.toString('latin1');
    expect(text).toContain('init\0');
    expect(text).toContain('#!/bin/sh\n');
    expect(text).toContain('TRAILER!!!\0');
    expect(() => cpioArchive([{ kind: 'dir', name: '../x' }])).toThrow(/bad member name/);
  });
});
