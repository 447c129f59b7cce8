import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { withLock } from '../util/lock.js';
import type { AuditEntries, AuditType } from './audit-entries.js';

export type { AuditEntries, AuditType } from './audit-entries.js';

/** One entry before it is chained; its data must be the shape its type has (audit-entries.ts). */
export interface AuditEvent<T extends AuditType = AuditType> {
  type: T;
  /** The principal, or `daemon` for the builder itself. */
  actor: string;
  build?: string;
  data: AuditEntries[T];
}

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
        const { seq, prev } = this.tail();
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
        const fd = fs.openSync(this.file, 'a', 0o644);
        try {
          fs.writeSync(fd, line + '\n');
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        return sha256(line);
      },
      { pollMs: 20, waitMs: 120_000 },
    );
  }

  /** How many entries there are and the chain head (sha256 of the last line), read from the end of the file. */
  head(): { size: number; head: string } {
    const { seq, prev } = this.tail();
    return { size: seq, head: prev };
  }

  /** The next seq and the hash of the last line, from the end of the file only. */
  private tail(): { seq: number; prev: string } {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return { seq: 0, prev: ZERO_HASH };
    }
    if (size === 0) return { seq: 0, prev: ZERO_HASH };
    const fd = fs.openSync(this.file, 'r');
    try {
      // Entries are small; grow the window until it holds a whole last line.
      for (let window = 4096; ; window *= 4) {
        const len = Math.min(window, size);
        const buf = Buffer.alloc(len);
        fs.readSync(fd, buf, 0, len, size - len);
        const text = buf.toString('utf8').replace(/\n$/, '');
        const nl = text.lastIndexOf('\n');
        if (nl >= 0 || len === size) {
          const last = text.slice(nl + 1);
          const seq = (JSON.parse(last) as { seq: number }).seq + 1;
          return { seq, prev: sha256(last) };
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
