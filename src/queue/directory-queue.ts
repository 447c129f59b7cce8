import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { errorLine } from '../util/errors.js';
import { ID_RE, newRequestId, parseRequest, serializeRequest, type Request } from './request.js';
import type { Config } from '../config/types.js';
import { faultPoint } from '../util/fault-point.js';

export interface DirectoryQueueOptions {
  /**
   * A claim whose lock has not been refreshed for this long belongs to a dead daemon and
   * is taken over. Must be well above the refresh interval (half of it) plus NFS attribute caching.
   * @defaultValue 30000
   */
  staleMs?: number;
  /** Told about every file moved aside, so the daemon can log it. */
  onQuarantine?: (file: string, reason: string) => void;
}

/** A request this process holds the lock on; `lost` fires if another daemon took the lock over. */
export interface Claim {
  request: Request;
  lost: AbortSignal;
  /** The request is done (its record is written): remove it from the queue and drop the lock. */
  finish(): Promise<void>;
  /** Give the request back untouched (e.g. shutting down before starting it). */
  release(): Promise<void>;
  /** Give the request back built, for the publishing daemon (see markBuilt). */
  handOff(host: string): Promise<void>;
}

/**
 * Why a claim's `lost` signal fired: another daemon found the lock stale and took the request
 * over. The request is that daemon's now: whoever lost it must neither end nor give it back.
 */
export class ClaimTakenOver extends Error {}

const QUARANTINE = 'quarantine';
/** `cancel/<id>` holds the principal who asked to stop a running request; the daemon acts on it. */
const CANCEL = 'cancel';
/** `built/<id>` says a builder host built the request and handed it to the publishing daemon. */
const BUILT = 'built';

/**
 * The queue is a directory: one `<id>.json` per pending request, written atomically;
 * a claim is proper-lockfile's `<id>.json.lock` directory (mkdir is atomic on NFS too);
 * files that are not requests go to `quarantine/` beside a `.reason` file.
 * Finished requests leave the queue; their record lives in the state dir.
 */
export class DirectoryQueue {
  readonly dir: string;
  private readonly staleMs: number;
  private readonly onQuarantine?: (file: string, reason: string) => void;
  /** Request files never change once renamed into place, so a parse is cached by name. */
  private readonly parsed = new Map<string, Request>();

  /** The queue a configuration names, with its claim staleness. */
  static forConfig(config: Config, opts: Omit<DirectoryQueueOptions, 'staleMs'> = {}): DirectoryQueue {
    return new DirectoryQueue(config.queue_dir, { ...opts, staleMs: config.daemon.claim_stale_seconds * 1000 });
  }

  constructor(dir: string, opts: DirectoryQueueOptions = {}) {
    this.dir = dir;
    this.staleMs = opts.staleMs ?? 30_000;
    if (this.staleMs < 2000) throw new Error('staleMs must be at least 2000');
    this.onQuarantine = opts.onQuarantine;
  }

  ensureDirs(): void {
    fs.mkdirSync(path.join(this.dir, QUARANTINE), { recursive: true });
    fs.mkdirSync(path.join(this.dir, CANCEL), { recursive: true });
    fs.mkdirSync(path.join(this.dir, BUILT), { recursive: true });
  }

  /** An id for a new request that sorts after every request waiting here (see newRequestId). */
  newId(now = Date.now()): string {
    return newRequestId(now, this.pending().at(-1)?.id);
  }

  /** Ask whichever daemon runs `id` to stop it. */
  requestCancel(id: string, by: string): void {
    this.ensureDirs();
    writeFileAtomic(path.join(this.dir, CANCEL, id), by + '\n');
  }

  /** Who asked to cancel `id`, or null. */
  cancelRequestedBy(id: string): string | null {
    try {
      return fs.readFileSync(path.join(this.dir, CANCEL, id), 'utf8').trim() || null;
    } catch {
      return null;
    }
  }

  /** Every cancel asked for and not yet carried out: request id → who asked. */
  cancelsRequested(): Map<string, string> {
    const out = new Map<string, string>();
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.dir, CANCEL));
    } catch {
      return out;
    }
    for (const id of names) {
      if (!ID_RE.test(id)) continue; // a marker being written (.tmp-…)
      // A marker outliving its request (it finished as the cancel was asked) would be read forever.
      if (!fs.existsSync(this.fileOf(id))) {
        this.clearCancel(id);
        continue;
      }
      const by = this.cancelRequestedBy(id);
      if (by) out.set(id, by);
    }
    return out;
  }

  clearCancel(id: string): void {
    fs.rmSync(path.join(this.dir, CANCEL, id), { force: true });
  }

  /** Say that `id` is built and waits for the publishing daemon (its journal says so too). */
  markBuilt(id: string, host: string): void {
    this.ensureDirs();
    writeFileAtomic(path.join(this.dir, BUILT, id), host + '\n');
  }

  /** Requests built by a builder host and waiting to be published; a marker outliving its request is removed. */
  builtIds(): Set<string> {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.dir, BUILT));
    } catch {
      return new Set();
    }
    const out = new Set<string>();
    for (const id of names) {
      if (!ID_RE.test(id)) continue; // a marker being written (.tmp-…)
      if (fs.existsSync(this.fileOf(id))) out.add(id);
      else fs.rmSync(path.join(this.dir, BUILT, id), { force: true });
    }
    return out;
  }

  /** Durably add a request; when this returns, a crash cannot lose it. */
  enqueue(req: Request): void {
    this.ensureDirs();
    writeFileAtomic(this.fileOf(req.id), serializeRequest(req));
  }

  /** Pending requests, oldest first; anything unreadable is quarantined on the way. */
  pending(): Request[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const present = new Set(names);
    const out: Request[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.') || name === QUARANTINE || name === CANCEL || name === BUILT) continue; // temp files of writers in progress
      if (name.endsWith('.json.lock')) {
        this.sweepOrphanLock(name, present);
        continue;
      }
      const m = /^(.*)\.json$/.exec(name);
      if (!m || !ID_RE.test(m[1]!)) {
        this.quarantine(name, 'not a request file (expected <id>.json)');
        continue;
      }
      let req = this.parsed.get(name);
      if (!req) {
        try {
          req = parseRequest(fs.readFileSync(path.join(this.dir, name), 'utf8'));
          if (req.id !== m[1]) throw new Error(`its id ${req.id} does not match the file name`);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // finished meanwhile
          this.quarantine(name, errorLine(e));
          continue;
        }
        this.parsed.set(name, req);
      }
      out.push(req);
    }
    for (const name of this.parsed.keys()) if (!present.has(name)) this.parsed.delete(name);
    return out;
  }

  /** Whether some live daemon holds the claim on this request. */
  async isClaimed(id: string): Promise<boolean> {
    try {
      return await lockfile.check(this.fileOf(id), { stale: this.staleMs, realpath: false });
    } catch {
      return false;
    }
  }

  /**
   * Claim the oldest request that may run now. Each (pocket, package) builds one request at a
   * time, in the order they were accepted; other packages may overtake. A request that is
   * claimed holds its package even if an older one arrives after it (two submits racing: the
   * one that got the smaller id may land second): the key waits for it, and a claim gone
   * stale is taken over rather than passed by. After claiming, the key is checked again,
   * since another daemon may have claimed a request of it between the scan and the claim.
   * `accept` lets the caller skip requests it cannot take now (e.g. one it runs already).
   */
  async claimNext(accept: (r: Request) => boolean = () => true): Promise<Claim | null> {
    const keyOf = (r: Request) => `${r.pocket}\0${r.package}`;
    const locked = this.lockedIds();
    const next = new Map<string, Request>();
    for (const req of this.pending()) {
      const key = keyOf(req);
      const first = next.get(key);
      if (!first || (locked.has(req.id) && !locked.has(first.id))) next.set(key, req);
    }
    for (const req of next.values()) {
      if (!accept(req)) continue;
      const claim = await this.tryClaim(req);
      if (!claim) continue;
      const rival = this.pending().find(
        (r) => r.id !== req.id && keyOf(r) === keyOf(req) && this.lockedIds().has(r.id),
      );
      if (!rival) return claim;
      await claim.release();
    }
    return null;
  }

  /** Requests whose claim (a lock directory) exists, live or stale. */
  private lockedIds(): Set<string> {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return new Set();
    }
    return new Set(names.filter((n) => n.endsWith('.json.lock')).map((n) => n.slice(0, -'.json.lock'.length)));
  }

  /** Claim this pending request, whatever waits before it (to end it without a build, e.g. cancelled). */
  async claim(id: string): Promise<Claim | null> {
    const req = this.pending().find((r) => r.id === id);
    return req ? this.tryClaim(req) : null;
  }

  private async tryClaim(req: Request): Promise<Claim | null> {
    const file = this.fileOf(req.id);
    const lost = new AbortController();
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(file, {
        stale: this.staleMs,
        update: Math.floor(this.staleMs / 3),
        realpath: false,
        retries: 0,
        onCompromised: () => lost.abort(new ClaimTakenOver(`the claim on ${req.id} was taken over by another daemon`)),
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOCKED' || code === 'ENOENT') return null;
      throw e;
    }
    // The request may have been finished by its previous holder between our scan and our lock.
    if (!fs.existsSync(file)) {
      await release().catch(() => {});
      return null;
    }
    faultPoint('queue:after-claim');
    let done = false;
    const end = async (remove: boolean) => {
      if (done) return;
      done = true;
      if (remove) {
        fs.rmSync(file, { force: true });
        this.parsed.delete(path.basename(file));
        this.clearCancel(req.id);
        fs.rmSync(path.join(this.dir, BUILT, req.id), { force: true });
      }
      await release().catch(() => {
        /* compromised or already released: nothing left to undo */
      });
    };
    return {
      request: req,
      lost: lost.signal,
      finish: () => end(true),
      release: () => end(false),
      handOff: (host) => {
        this.markBuilt(req.id, host);
        return end(false);
      },
    };
  }

  /** Move a file aside with its reason; the daemon never reads it again. */
  quarantine(name: string, reason: string): void {
    const qdir = path.join(this.dir, QUARANTINE);
    fs.mkdirSync(qdir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '');
    const target = path.join(qdir, `${stamp}-${name}`);
    try {
      fs.renameSync(path.join(this.dir, name), target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // another daemon got there first
      throw e;
    }
    writeFileAtomic(`${target}.reason`, reason + '\n');
    this.onQuarantine?.(name, reason);
  }

  /** Whether request `id` is queued (claimed or not), asked of its own file: no listing's race. */
  holds(id: string): boolean {
    return fs.existsSync(this.fileOf(id));
  }

  fileOf(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** A lock directory whose request is gone and which nobody refreshes is the leftover of a crash between finish and unlock. */
  private sweepOrphanLock(name: string, present: Set<string>): void {
    if (present.has(name.slice(0, -'.lock'.length))) return;
    const full = path.join(this.dir, name);
    try {
      if (Date.now() - fs.statSync(full).mtimeMs > this.staleMs) fs.rmSync(full, { recursive: true, force: true });
    } catch {
      /* raced with its owner; fine */
    }
  }
}
