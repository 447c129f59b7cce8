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
}

/**
 * Hold a proper-lockfile lock on `target` (created if missing) while `fn` runs, waiting for
 * other holders (another build slot, daemon or SSH session).
 */
export async function withLock<T>(target: string, fn: () => Promise<T>, opts: WithLockOptions = {}): Promise<T> {
  const waitMs = opts.waitMs ?? 30 * 60_000;
  const pollMs = opts.pollMs ?? 1000;
  if (!fs.existsSync(target)) fs.mkdirSync(target, { recursive: true });
  const release = await lockfile.lock(target, {
    stale: 30_000,
    update: 10_000,
    realpath: false,
    retries: {
      retries: Math.ceil(waitMs / (pollMs / 2)),
      factor: 1.2,
      minTimeout: Math.max(1, pollMs / 10),
      maxTimeout: pollMs,
      randomize: true,
    },
  });
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
