import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { BuildRecord } from '../record/build-record.js';
import { DirectoryQueue } from '../queue/directory-queue.js';

/**
 * Copy a build's log to `out`, and with `follow`, keep copying while the build runs and stop
 * once it has ended: its result exists and it has left the queue, which its daemon does only
 * after the end's hooks ran and the log was closed (the result alone comes before the hooks'
 * lines). A queued build is waited for. Polls: inotify does not cross NFS, and a build log
 * grows in bursts anyway.
 */
export async function followLog(
  dirs: { state_dir: string; queue_dir: string },
  id: string,
  out: Writable,
  follow: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const record = new BuildRecord(dirs.state_dir, id);
  const queued = new DirectoryQueue(dirs.queue_dir).fileOf(id);
  let offset = 0;
  const copy = () => {
    let fd: number;
    try {
      fd = fs.openSync(record.logFile, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        out.write(Buffer.from(buf.subarray(0, n)));
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  for (;;) {
    const done = record.result() !== null && !fs.existsSync(queued);
    copy();
    if (!follow || done || signal?.aborted) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}
