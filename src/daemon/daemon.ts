import { watch, type FSWatcher } from 'chokidar';
import type { Claim, DirectoryQueue } from '../queue/directory-queue.js';
import type { Request } from '../queue/request.js';
import { errorLine, isPocketbuildError } from '../util/errors.js';

/** How long a request whose worker failed outright is held before it is given back to the queue. */
const GIVE_BACK_MS = 10_000;

export interface DaemonOptions {
  queue: DirectoryQueue;
  /** @defaultValue 1 */
  slots?: number;
  /** The periodic rescan: the only wake-up across hosts on NFS, which sends no events. @defaultValue 5000 */
  rescanMs?: number;
  /** Does one claimed request. Must finish or release the claim before resolving. */
  work: (claim: Claim, signal: AbortSignal) => Promise<void>;
  /**
   * Told once per request this daemon sees waiting in the queue, before it may be claimed; a
   * promise returned is awaited before the request is claimed (its `submitted` hooks), so a
   * daemon that dies holding the claim has announced it.
   */
  onQueued?: (req: Request) => Promise<void> | void;
  /**
   * This daemon publishes (the default): it takes requests that builder hosts built, at once and
   * outside the slots, as publishing is short. A builder host (false) leaves them alone.
   * @defaultValue true
   */
  publishes?: boolean;
  /**
   * For a request of a batch (one with `after`): may it build now, must it wait (dep-wait), or
   * did a request it waits for fail (then it is ended at once, outside the slots, unbuilt).
   */
  dependencies?: (
    req: Request,
    isQueued: (id: string) => boolean,
  ) => { kind: 'ready' | 'wait' } | { kind: 'failed'; reason: string };
  log: (line: string) => void;
}

/** The reason a request is ended unbuilt when a request of its batch it waits for failed. */
export class DependencyFailed extends Error {}

/** The reason a running build is aborted when someone cancels it. */
export class CancelRequested extends Error {
  constructor(readonly by: string) {
    super(`cancelled by ${by}`);
  }
}

/** The reason a running build is aborted when the daemon stops: the request stays queued and is built again at the next start. */
export class ShuttingDown extends Error {
  constructor() {
    super('the daemon is shutting down');
  }
}

/**
 * Watches the queue and keeps up to `slots` requests running. It knows nothing about
 * Debian: what a request means is the `work` function's business (Laminar's lesson).
 */
export class Daemon {
  private readonly queue: DirectoryQueue;
  private readonly slots: number;
  private readonly rescanMs: number;
  private readonly publishes: boolean;
  private readonly dependencies: DaemonOptions['dependencies'];
  private readonly work: DaemonOptions['work'];
  private readonly log: (line: string) => void;
  private readonly onQueued?: (req: Request) => Promise<void> | void;
  /** Requests whose onQueued has not settled: not claimed yet. */
  private readonly announcing = new Set<string>();
  /** Requests already passed to onQueued, pruned to what is still queued. */
  private seen = new Set<string>();
  private readonly running = new Map<
    string,
    { req: Request; abort: AbortController; done: Promise<void>; inSlot: boolean }
  >();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private pumping = false;
  private again = false;
  private closing?: Promise<void>;

  constructor(o: DaemonOptions) {
    this.queue = o.queue;
    this.slots = o.slots ?? 1;
    this.rescanMs = o.rescanMs ?? 5000;
    this.publishes = o.publishes ?? true;
    this.dependencies = o.dependencies;
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new Error('slots must be a positive integer');
    if (!(this.rescanMs > 0)) throw new Error('rescanMs must be greater than 0');
    this.work = o.work;
    this.log = o.log;
    this.onQueued = o.onQueued;
  }

  /** Start watching; resolves once the watcher is ready and the first scan has run. */
  async start(): Promise<void> {
    this.queue.ensureDirs();
    // depth 1: cancel/<id> markers must wake us as fast as new requests do.
    this.watcher = watch(this.queue.dir, { depth: 1, ignoreInitial: true, persistent: true });
    this.watcher.on('add', () => this.kick());
    this.watcher.on('unlink', () => this.kick()); // a finished request may unblock the next one of its package
    this.watcher.on('error', (e) => this.log(`watcher: ${errorLine(e)}; relying on the ${this.rescanMs} ms rescan`));
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
    this.timer = setInterval(() => this.kick(), this.rescanMs);
    this.kick();
  }

  /** IDs of the requests this daemon is building now. */
  active(): Request[] {
    return [...this.running.values()].map((r) => r.req);
  }

  /** Abort one running request (cancel). Returns false if this daemon is not running it. */
  abort(id: string, reason: Error): boolean {
    const r = this.running.get(id);
    if (!r) return false;
    r.abort.abort(reason);
    return true;
  }

  /** Fill free slots; runs again if woken while busy, so no event is lost. */
  kick(): void {
    if (this.closing) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump()
      .catch((e) => this.log(`scheduler: ${errorLine(e)}`))
      .finally(() => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pump(): Promise<void> {
    if (this.onQueued) {
      const pending = this.queue.pending();
      for (const r of pending) {
        if (this.seen.has(r.id)) continue;
        const told = this.onQueued(r);
        if (!told) continue;
        this.announcing.add(r.id);
        void told
          .catch(() => {})
          .finally(() => {
            this.announcing.delete(r.id);
            this.kick();
          });
      }
      this.seen = new Set(pending.map((r) => r.id));
    }
    const cancels = this.queue.cancelsRequested();
    for (const [id, by] of cancels) {
      const r = this.running.get(id);
      if (r && !r.abort.signal.aborted) {
        this.log(`build ${id}: cancel requested by ${by}`);
        r.abort.abort(new CancelRequested(by));
      } else if (!r && !this.closing) {
        // A request cancelled while it waits is ended at once, outside the slots: it builds nothing.
        const claim = await this.queue.claim(id);
        if (claim) {
          this.log(`build ${id}: cancel requested by ${by} before it started`);
          this.launch(claim, new CancelRequested(by), false);
        }
      }
    }
    const waiting = await this.settleDependencies();
    const built = this.queue.builtIds();
    for (const id of this.publishes ? built : []) {
      if (this.running.has(id) || this.closing) continue;
      const claim = await this.queue.claim(id);
      if (claim) this.launch(claim, undefined, false);
    }
    while (!this.closing && this.busySlots() < this.slots) {
      const claim = await this.queue.claimNext(
        (r) =>
          !this.running.has(r.id) &&
          !built.has(r.id) &&
          !waiting.has(r.id) &&
          !this.announcing.has(r.id) &&
          this.mayStart(r),
      );
      if (!claim) return;
      if (this.closing) {
        await claim.release();
        return;
      }
      this.launch(claim);
    }
  }

  /**
   * Requests of a batch that must wait for another (skipped by the slots for now); one whose
   * dependency failed is claimed and ended at once, unbuilt, outside the slots.
   */
  private async settleDependencies(): Promise<Set<string>> {
    const waiting = new Set<string>();
    if (!this.dependencies) return waiting;
    const pending = this.queue.pending();
    const ids = new Set(pending.map((r) => r.id));
    for (const r of pending) {
      if (!r.after?.length || this.running.has(r.id)) continue;
      const state = this.dependencies(r, (id) => ids.has(id) || this.queue.holds(id));
      if (state.kind === 'wait') waiting.add(r.id);
      if (state.kind !== 'failed' || this.closing) continue;
      waiting.add(r.id);
      const claim = await this.queue.claim(r.id);
      if (claim) this.launch(claim, new DependencyFailed(state.reason), false);
    }
    return waiting;
  }

  /**
   * Asked again of each request claimNext is about to take: its listing is newer than the one
   * settleDependencies judged, so a batch's later request can show up there first, unjudged.
   */
  private mayStart(r: Request): boolean {
    if (!r.after?.length || !this.dependencies) return true;
    return this.dependencies(r, (id) => this.queue.holds(id)).kind === 'ready';
  }

  private busySlots(): number {
    let n = 0;
    for (const r of this.running.values()) if (r.inSlot) n++;
    return n;
  }

  /** Hand a claim to `work`; `cancelled` starts it already aborted, so it ends without building. */
  private launch(claim: Claim, cancelled?: CancelRequested | DependencyFailed, inSlot = true): void {
    const abort = new AbortController();
    if (cancelled) abort.abort(cancelled);
    claim.lost.addEventListener('abort', () => abort.abort(claim.lost.reason), { once: true });
    const id = claim.request.id;
    const done = this.work(claim, abort.signal)
      .catch(async (e) => {
        // The worker could not run or end the request (a full disk, say). Given back at once,
        // it would be claimed and fail again in a loop: give it back later.
        const code = isPocketbuildError(e) ? `${e.code}: ` : '';
        this.log(`build ${id}: ${code}${errorLine(e)}; it stays queued and is tried again in ${GIVE_BACK_MS / 1000} s`);
        await new Promise((r) => setTimeout(r, GIVE_BACK_MS));
        await claim.release().catch(() => {});
      })
      .finally(() => {
        this.running.delete(id);
        this.kick();
      });
    this.running.set(id, { req: claim.request, abort, done, inSlot });
  }

  /** Stop taking work and abort running builds (they stay queued). A second call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      await this.watcher?.close().catch(() => {});
      for (const r of this.running.values()) r.abort.abort(new ShuttingDown());
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    })();
    return this.closing;
  }
}
