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
 * results are read from the build records; `pending` says which requests are still queued, so a
 * request that is neither queued nor ended (moved to quarantine) fails its dependants.
 */
export function dependencyState(stateDir: string, req: Request, pending: ReadonlySet<string>): DependencyState {
  for (const id of req.after ?? []) {
    const rec = new BuildRecord(stateDir, id);
    const res = rec.result();
    const pkg = res?.package ?? rec.request()?.package ?? 'a request';
    if (!res) {
      if (pending.has(id)) return { kind: 'wait', on: id, reason: `waits for ${pkg} (${id}) to be published` };
      return {
        kind: 'failed',
        on: id,
        reason: `${pkg} (${id}), which it build-depends on, is neither queued nor finished`,
      };
    }
    if (res.status !== 'succeeded')
      return {
        kind: 'failed',
        on: id,
        reason: `${pkg} (${id}), which it build-depends on, ended ${res.status}${res.code ? ` (${res.code})` : ''}, so it was not built`,
      };
  }
  return { kind: 'ready' };
}
