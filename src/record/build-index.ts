import fs from 'node:fs';
import path from 'node:path';
import { requestKey, type Request, type RequestKey } from '../queue/request.js';
import type { OutcomeCode } from '../util/outcomes.js';
import { BuildRecord, type BuildResult, type FinalStatus } from './build-record.js';

/** One finished build as lists show it: what names it, who asked from where, and how it ended. */
export interface IndexedBuild extends RequestKey, Pick<Request, 'origin' | 'time'> {
  status: FinalStatus;
  code?: OutcomeCode;
  reason?: string;
  version?: string;
  started: string;
  finished: string;
  /** A promotion: the pocket whose build it published. */
  promoted_from?: string;
}

export interface BuildFilter {
  pocket?: string;
  package?: string;
  principal?: string;
  status?: FinalStatus;
}

/**
 * `<state_dir>/index/builds.jsonl`: one line per finished build, appended when a request ends,
 * so that lists (status, history, the web pages) read one file instead of every record. It is
 * derived data: `repair` adds whatever records it lacks (a crash between the result and the
 * append, or records older than the index), and deleting it loses nothing.
 */
export class BuildIndex {
  readonly file: string;
  private readonly stateDir: string;
  /** Newest first after each refresh; one entry per id (a repeated id keeps its last line). */
  private entries: IndexedBuild[] = [];
  private byId = new Map<string, IndexedBuild>();
  private readBytes = 0;
  private partial = '';

  constructor(stateDir: string) {
    this.stateDir = stateDir;
    this.file = path.join(stateDir, 'index', 'builds.jsonl');
  }

  static entryOf(req: Request, result: BuildResult): IndexedBuild {
    return {
      ...requestKey(req),
      origin: req.origin,
      time: req.time,
      status: result.status,
      ...(result.code ? { code: result.code } : {}),
      ...(result.reason ? { reason: result.reason } : {}),
      ...(result.version ? { version: result.version } : {}),
      started: result.started,
      finished: result.finished,
      ...(req.promote ? { promoted_from: req.promote.from } : {}),
    };
  }

  /** One line, one write with O_APPEND: concurrent daemons' lines do not interleave. */
  append(req: Request, result: BuildResult): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.appendFileSync(this.file, JSON.stringify(BuildIndex.entryOf(req, result)) + '\n');
  }

  /** Add the finished records the index lacks; returns how many. */
  repair(): number {
    this.refresh();
    const missing: string[] = [];
    for (const id of BuildRecord.list(this.stateDir)) {
      if (this.byId.has(id)) continue;
      const rec = new BuildRecord(this.stateDir, id);
      const req = rec.request();
      const res = rec.result();
      if (req && res) missing.push(JSON.stringify(BuildIndex.entryOf(req, res)) + '\n');
    }
    if (missing.length) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.appendFileSync(this.file, missing.join(''));
      this.refresh();
    }
    return missing.length;
  }

  /** Read what was appended since the last call (the file only grows; a shorter one was replaced). */
  refresh(): void {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return;
    }
    if (size < this.readBytes) this.reset();
    if (size === this.readBytes) return;
    const fd = fs.openSync(this.file, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(size - this.readBytes);
      const n = fs.readSync(fd, buf, 0, buf.length, this.readBytes);
      this.readBytes += n;
      text = this.partial + buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
    const lines = text.split('\n');
    this.partial = lines.pop() ?? ''; // a line still being written
    const added: IndexedBuild[] = [];
    for (const line of lines) {
      if (!line) continue;
      let e: IndexedBuild;
      try {
        e = JSON.parse(line) as IndexedBuild;
      } catch {
        continue; // a torn line from a crash mid-append; repair() re-adds its build
      }
      if (typeof e?.id !== 'string') continue;
      added.push(e);
    }
    if (!added.length) return;
    for (const e of added) this.byId.set(e.id, e);
    // Appends come roughly in finishing order; lists are by request id (submission order), newest first.
    this.entries = [...this.byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  private reset(): void {
    this.entries = [];
    this.byId = new Map();
    this.readBytes = 0;
    this.partial = '';
  }

  get(id: string): IndexedBuild | undefined {
    this.refresh();
    return this.byId.get(id);
  }

  /** Finished builds matching `filter`, newest first: `limit` of them from `offset`, and how many match. */
  query(filter: BuildFilter = {}, offset = 0, limit = 50): { total: number; items: IndexedBuild[] } {
    this.refresh();
    const keys = (Object.keys(filter) as (keyof BuildFilter)[]).filter((k) => filter[k] !== undefined);
    const match = keys.length ? this.entries.filter((e) => keys.every((k) => e[k] === filter[k])) : this.entries;
    return { total: match.length, items: match.slice(offset, offset + limit) };
  }
}
