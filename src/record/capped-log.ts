import { Writable } from 'node:stream';

/** Why a build was stopped by its own output: a limit, not a cancel. */
export class LogLimitExceeded extends Error {
  constructor(readonly limitBytes: number) {
    super(`the build log passed limits.log_mb (${Math.round(limitBytes / 1048576)} MiB)`);
  }
}

/** Room kept after the limit for pocketbuild's own closing lines (the reason, hook outcomes). */
const GRACE_BYTES = 64 * 1024;

/**
 * A build log that stops growing at a limit: past it, `onExceeded` fires once (the worker
 * stops the build) and further output is accepted but dropped, so a child writing into a
 * full log never blocks on its pipe.
 */
export class CappedLog extends Writable {
  private written = 0;
  private tripped = false;

  constructor(
    private readonly target: Writable,
    private readonly limitBytes: number,
    private readonly onExceeded: (e: LogLimitExceeded) => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const room = this.limitBytes + (this.tripped ? GRACE_BYTES : 0) - this.written;
    if (room <= 0) return cb();
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.written += part.length;
    if (!this.tripped && this.written >= this.limitBytes) {
      this.tripped = true;
      const e = new LogLimitExceeded(this.limitBytes);
      this.target.write(part);
      this.target.write(`\npocketbuild: ${e.message}; further output is dropped and the build is stopped\n`, () =>
        cb(),
      );
      this.onExceeded(e);
      return;
    }
    this.target.write(part, () => cb());
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.target.end(() => cb());
  }
}
