import fs from 'node:fs';
import path from 'node:path';
import { PocketbuildError } from '../../util/errors.js';

/*
 * The only way data leaves the VM: a raw disk the guest writes one stream onto, which the
 * host reads as bytes (never mounted, never extracted by a tool that trusts it):
 *
 *   POCKETBUILD-OUTPUT 1\n
 *   F <name> <size>\n<size bytes>      (zero or more)
 *   E <status>\n                        the build command's exit status, 0-255
 *
 * Anything after the end frame is ignored (the rest of the disk). A disk the guest never
 * wrote (all zeros at the start) means the guest died before it could report.
 */
export const STREAM_MAGIC = 'POCKETBUILD-OUTPUT 1\n';
export const OUTPUT_NAME = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;
const MAX_NAME = 255;
const MAX_LINE = 16 + MAX_NAME + 24;
const SIZE = /^(0|[1-9][0-9]{0,15})$/;

export interface OutputStreamLimits {
  /** Total bytes of all files together. */
  maxBytes: number;
  maxFiles: number;
}

export type OutputStreamResult =
  { reported: true; status: number; files: Array<{ name: string; size: number }> } | { reported: false };

export class BadVmOutput extends PocketbuildError {
  constructor(why: string) {
    super(
      'BadVmOutput',
      `the VM's output stream was refused (${why}); the build's outputs were not taken. This is a broken or hostile build, or a pocketbuild bug if the build is ordinary.`,
      { why },
    );
  }
}

/** Sequential reads from a file descriptor, with an end that is the file's size at open time. */
class Reader {
  private buf = Buffer.alloc(1 << 16);
  private start = 0;
  private end = 0;
  private pos = 0;
  constructor(private readonly fd: number) {}

  private fill(): boolean {
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end === this.buf.length) return true;
    const n = fs.readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.pos);
    this.pos += n;
    this.end += n;
    return n > 0;
  }

  /** A line of at most `max` bytes without its newline, or why not. */
  line(max: number): string | { error: string } {
    for (;;) {
      const nl = this.buf.indexOf(0x0a, this.start);
      if (nl >= 0 && nl < this.end) {
        if (nl - this.start > max) return { error: `a header line longer than ${max} bytes` };
        const s = this.buf.subarray(this.start, nl);
        this.start = nl + 1;
        // Reject non-ASCII rather than let a lossy decoding change what a name is.
        if (s.some((c) => c < 0x20 || c > 0x7e))
          return { error: 'a header line with bytes that are not printable ASCII' };
        return s.toString('ascii');
      }
      if (this.end - this.start > max) return { error: `a header line longer than ${max} bytes` };
      if (!this.fill()) return { error: 'the stream ends in the middle of a header (truncated)' };
    }
  }

  /** Copy exactly n bytes to `out`; false if the stream ends first. */
  copy(n: number, out: number): boolean {
    let left = n;
    while (left > 0) {
      if (this.end === this.start && !this.fill()) return false;
      const take = Math.min(left, this.end - this.start);
      fs.writeSync(out, this.buf, this.start, take);
      this.start += take;
      left -= take;
    }
    return true;
  }

  peek(n: number): Buffer {
    while (this.end - this.start < n && this.fill()) {
      /* read on */
    }
    return this.buf.subarray(this.start, Math.min(this.end, this.start + n));
  }
}

/**
 * Read the guest's output stream from `device` (the raw disk file, after qemu has exited)
 * and write each file into `destDir` as a plain file. Strict: any deviation from the format,
 * a name that is not a plain file name, a duplicate, or more files or bytes than allowed
 * refuses the whole stream (and removes what was written of it).
 */
export function readOutputStream(device: string, destDir: string, limits: OutputStreamLimits): OutputStreamResult {
  const fd = fs.openSync(device, 'r');
  const written: string[] = [];
  try {
    const r = new Reader(fd);
    const head = r.peek(STREAM_MAGIC.length);
    if (head.length === 0 || head.every((b) => b === 0)) return { reported: false };
    if (!head.equals(Buffer.from(STREAM_MAGIC, 'ascii')))
      throw new BadVmOutput('it does not start with the expected header');
    r.line(MAX_LINE);
    const files: Array<{ name: string; size: number }> = [];
    let total = 0;
    for (;;) {
      const line = r.line(MAX_LINE);
      if (typeof line !== 'string') throw new BadVmOutput(line.error);
      const end = /^E (0|[1-9][0-9]{0,2})$/.exec(line);
      if (end) {
        const status = Number(end[1]);
        if (status > 255) throw new BadVmOutput(`exit status ${status} is out of range`);
        return { reported: true, status, files };
      }
      const m = /^F (\S+) (\S+)$/.exec(line);
      if (!m)
        throw new BadVmOutput(
          `a frame header ${JSON.stringify(line.slice(0, 80))} that is neither "F NAME SIZE" nor "E STATUS"`,
        );
      const [, name, sizeText] = m as unknown as [string, string, string];
      if (name.length > MAX_NAME || !OUTPUT_NAME.test(name))
        throw new BadVmOutput(`the file name ${JSON.stringify(name.slice(0, 80))} is not a plain file name`);
      if (!SIZE.test(sizeText))
        throw new BadVmOutput(`the size ${JSON.stringify(sizeText.slice(0, 30))} of ${name} is not a decimal number`);
      const size = Number(sizeText);
      if (files.some((f) => f.name === name)) throw new BadVmOutput(`${name} appears twice`);
      if (files.length + 1 > limits.maxFiles) throw new BadVmOutput(`more than ${limits.maxFiles} files`);
      if (total + size > limits.maxBytes)
        throw new BadVmOutput(`${name} would bring the outputs over ${limits.maxBytes} bytes (limits.disk_mb)`);
      const target = path.join(destDir, name);
      const out = fs.openSync(
        target,
        fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
        0o644,
      );
      written.push(target);
      try {
        if (!r.copy(size, out)) throw new BadVmOutput(`the stream ends inside ${name} (truncated)`);
      } finally {
        fs.closeSync(out);
      }
      total += size;
      files.push({ name, size });
    }
  } catch (e) {
    for (const f of written) fs.rmSync(f, { force: true });
    if (e instanceof Error && 'code' in e && e.code === 'EEXIST')
      throw new BadVmOutput('a file name that already exists in the output directory');
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}
