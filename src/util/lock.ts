import fs from 'node:fs';
import lockfile from 'proper-lockfile';

/**
 * Hold a proper-lockfile lock on `target` (created if missing) while `fn` runs, waiting for
 * other holders (another build slot or daemon) for up to `waitMs`.
 */
export async function withLock<T>(target: string, fn: () => Promise<T>, waitMs = 30 * 60_000): Promise<T> {
  if (!fs.existsSync(target)) fs.mkdirSync(target, { recursive: true });
  const release = await lockfile.lock(target, {
    stale: 30_000,
    update: 10_000,
    realpath: false,
    retries: { retries: Math.ceil(waitMs / 1000), factor: 1, minTimeout: 1000, maxTimeout: 1000 },
  });
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
