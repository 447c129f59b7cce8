import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { withLock } from '../util/lock.js';
import type { AuditEntries, AuditType } from './audit-entries.js';
import { die, faultArmed } from '../util/fault-point.js';
import { diskFullError } from '../util/errors.js';

export type { AuditEntries, AuditType } from './audit-entries.js';

/** One entry before it is chained; its data must be the shape its type has (audit-entries.ts). */
export interface AuditEvent<T extends AuditType = AuditType> {
  type: T;
  /** The principal, or `daemon` for the builder itself. */
  actor: string;
  build?: string;
  data: AuditEntries[T];
}

/** An entry as the log holds it; narrowing on `type` gives its data's shape. */
export type StoredEntry = {
  [T in AuditType]: {
    v: 1;
    seq: number;
    ts: string;
    type: T;
    actor: string;
    build?: string;
    data: AuditEntries[T];
    prev: string;
  };
}[AuditType];

export const ZERO_HASH = '0'.repeat(64);

/**
 * `<state_dir>/audit.log`: append-only, one RFC 8785 canonical JSON object per line, each
 * carrying its index (`seq`) and the sha256 of the previous line (`prev`), so any edit,
 * insertion, deletion or reordering breaks the chain (README.md, "Audit log").
 * Appends from several processes (daemons, SSH sessions) are serialised by a lock, since
 * each line depends on the one before it.
 */
export class AuditLog {
  readonly file: string;
  private readonly lockPath: string;

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'audit.log');
    this.lockPath = path.join(stateDir, 'locks', 'audit');
  }

  async append<T extends AuditType>(e: AuditEvent<T>): Promise<string> {
    // An append holds the lock for a read of the tail and one write: poll fast.
    return withLock(
      this.lockPath,
      async () => {
        const tail = this.tail();
        let { seq, prev } = tail;
        const { torn } = tail;
        const fd = fs.openSync(this.file, 'a', 0o644);
        try {
          if (torn) {
            // The last append's writer died mid-line. What it wrote is not an entry (no line
            // after it can chain to it): cut it, and say so in the log itself.
            fs.ftruncateSync(fd, fs.fstatSync(fd).size - torn.length);
            const repaired = this.line(seq, prev, {
              type: 'audit.repaired',
              actor: 'daemon',
              data: { dropped_bytes: torn.length, dropped_sha256: createHash('sha256').update(torn).digest('hex') },
            });
            fs.writeSync(fd, repaired + '\n');
            seq += 1;
            prev = sha256(repaired);
          }
          const line = this.line(seq, prev, e);
          if (e.type === 'build.finished' && faultArmed('audit:torn-write')) {
            fs.writeSync(fd, line.slice(0, Math.floor(line.length / 2)));
            fs.fsyncSync(fd);
            die();
          }
          const bytes = Buffer.from(line + '\n');
          // A short write (a disk filling up) leaves a torn line, which the next append cuts.
          if (fs.writeSync(fd, bytes) !== bytes.length) throw diskFullError('a short write to audit.log');
          fs.fsyncSync(fd);
          return sha256(line);
        } finally {
          fs.closeSync(fd);
        }
      },
      { pollMs: 20, waitMs: 120_000 },
    );
  }

  private line(seq: number, prev: string, e: AuditEvent): string {
    const entry = {
      v: 1,
      seq,
      ts: new Date().toISOString(),
      type: e.type,
      actor: e.actor,
      ...(e.build ? { build: e.build } : {}),
      data: e.data,
      prev,
    };
    const line = canonicalize(entry);
    if (line === undefined) throw new Error('audit entry cannot be canonicalised');
    return line;
  }

  /** How many entries there are and the chain head (sha256 of the last whole line), read from the end of the file. */
  head(): { size: number; head: string } {
    const { seq, prev } = this.tail();
    return { size: seq, head: prev };
  }

  /**
   * Every entry about one build, oldest first. It reads the whole log, so it is for the rare
   * case that needs it: a request resumed after a crash, asking what it already recorded.
   */
  entriesOf(build: string): StoredEntry[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    const out: StoredEntry[] = [];
    for (const l of text.split('\n')) {
      if (!l.includes(build)) continue;
      try {
        const entry = JSON.parse(l) as StoredEntry;
        if (entry.build === build) out.push(entry);
      } catch {
        /* a torn last line is not an entry */
      }
    }
    return out;
  }

  /**
   * The next seq and the hash of the last whole line, from the end of the file only; `torn`
   * holds the bytes after the last newline, which only a writer killed mid-append leaves.
   */
  private tail(): { seq: number; prev: string; torn: Buffer | null } {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return { seq: 0, prev: ZERO_HASH, torn: null };
    }
    if (size === 0) return { seq: 0, prev: ZERO_HASH, torn: null };
    const fd = fs.openSync(this.file, 'r');
    try {
      // Entries are small; grow the window until it holds a whole last line.
      for (let window = 4096; ; window *= 4) {
        const len = Math.min(window, size);
        const buf = Buffer.alloc(len);
        fs.readSync(fd, buf, 0, len, size - len);
        const end = buf.lastIndexOf(0x0a); // the newline that ends the last whole line
        if (end === -1 && len < size) continue;
        const torn = end === len - 1 ? null : Buffer.from(buf.subarray(end + 1));
        if (end === -1) return { seq: 0, prev: ZERO_HASH, torn };
        const start = end > 0 ? buf.lastIndexOf(0x0a, end - 1) : -1;
        if (start === -1 && len < size) continue;
        const last = buf.subarray(start + 1, end).toString('utf8');
        return { seq: (JSON.parse(last) as { seq: number }).seq + 1, prev: sha256(last), torn };
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
