import type { Request } from '../queue/request.js';
import { BuildRecord } from './build-record.js';

/** Where a request of a batch stands with the requests it waits for (its `after`). */
export type DependencyState =
  | { kind: 'ready' }
  /** One of them has not ended yet. */
  | { kind: 'wait'; on: string; reason: string }
  /** One of them ended without being published, or is gone: this one is not built. */
  | { kind: 'failed'; on: string; reason: string };

/**
 * Whether `req` may build now: every request it waits for succeeded (so is published). The
 * results are read from the build records; `isQueued` says whether a request is still queued,
 * so one that is neither queued nor ended (moved to quarantine) fails its dependants. It must
 * ask the queue about that one request: a directory listing made while a batch is being
 * queued may show a later request of it and miss an earlier one.
 */
export function dependencyState(stateDir: string, req: Request, isQueued: (id: string) => boolean): DependencyState {
  for (const id of req.after ?? []) {
    const rec = new BuildRecord(stateDir, id);
    let res = rec.result();
    const pkg = () => res?.package ?? rec.request()?.package ?? 'a request';
    if (!res && isQueued(id)) return { kind: 'wait', on: id, reason: `waits for ${pkg()} (${id}) to be published` };
    // Ended since the first read: its result is written before it leaves the queue.
    res ??= rec.result();
    if (!res)
      return {
        kind: 'failed',
        on: id,
        reason: `${pkg()} (${id}), which it build-depends on, is neither queued nor finished`,
      };
    if (res.status !== 'succeeded')
      return {
        kind: 'failed',
        on: id,
        reason: `${pkg()} (${id}), which it build-depends on, ended ${res.status}${res.code ? ` (${res.code})` : ''}, so it was not built`,
      };
  }
  return { kind: 'ready' };
}
