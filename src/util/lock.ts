import fs from 'node:fs';
import lockfile from 'proper-lockfile';

export interface WithLockOptions {
  /** How long to wait for other holders. @defaultValue 30 minutes */
  waitMs?: number;
  /**
   * Longest pause between tries. Long operations (reprepro, apt, making the base image) poll
   * slowly; a few-millisecond critical section (an audit append) must poll fast, or
   * concurrent SSH requests queue up behind one-second sleeps. Pauses are jittered.
   * @defaultValue 1000
   */
  pollMs?: number;
  /**
   * Said once when another holder has the lock, so that a wait is never silent: a lock left
   * by a holder that died is only taken over once it is stale (30 s without an update).
   */
  onWait?: () => void;
}

/** How long a holder may go without refreshing its lock before another takes it over. */
export const STALE_SECONDS = 30;
const STALE_MS = STALE_SECONDS * 1000;

/**
 * Hold a proper-lockfile lock on `target` (created if missing) while `fn` runs, waiting for
 * other holders (another build slot, daemon or SSH session).
 */
export async function withLock<T>(target: string, fn: () => Promise<T>, opts: WithLockOptions = {}): Promise<T> {
  const waitMs = opts.waitMs ?? 30 * 60_000;
  const pollMs = opts.pollMs ?? 1000;
  if (!fs.existsSync(target)) fs.mkdirSync(target, { recursive: true });
  const base = { stale: STALE_MS, update: 10_000, realpath: false };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, { ...base, retries: 0 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
    opts.onWait?.();
    release = await waitForLock(target, base, waitMs, pollMs);
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}

function waitForLock(
  target: string,
  base: { stale: number; update: number; realpath: boolean },
  waitMs: number,
  pollMs: number,
): Promise<() => Promise<void>> {
  return lockfile.lock(target, {
    ...base,
    retries: {
      retries: Math.ceil(waitMs / (pollMs / 2)),
      factor: 1.2,
      minTimeout: Math.max(1, pollMs / 10),
      maxTimeout: pollMs,
      randomize: true,
    },
  });
}
