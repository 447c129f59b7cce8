import { Writable } from 'node:stream';
import type { ServerChannel } from 'ssh2';

/**
 * The parts of an ssh2 server channel that its flow control keeps between a write that ran out
 * of window and the CHANNEL_WINDOW_ADJUST that resumes it. ssh2 (1.17) never clears them after
 * the resumed write completes, and on the next adjust resumes `_chunk` (stdout) first if it is
 * set: a stale stdout chunk would be sent again (and its callback called twice) whenever stderr
 * is the stream waiting for window. Writing one chunk at a time and clearing these before each
 * write keeps that path correct.
 */
interface Ssh2ChannelFlowState {
  _chunk?: unknown;
  _chunkcb?: unknown;
  _chunkErr?: unknown;
  _chunkcbErr?: unknown;
  outgoing: { state: string };
}

type Target = 'stdout' | 'stderr';

interface Pending {
  target: Target;
  data: Buffer;
  done: () => void;
}

/**
 * Serialises a session's stdout and stderr onto one ssh2 channel, one chunk in flight at a time,
 * each write completing only when ssh2 has handed all of it to the transport (so the SSH window,
 * i.e. the client's reading speed, is the backpressure). After `kill()` (the client went away)
 * every pending and future write completes at once and is dropped: ssh2 itself would never call
 * back a write on a closed channel.
 */
export class ChannelOutput {
  readonly #channel: ServerChannel;
  readonly #queue: Pending[] = [];
  #inFlight: Pending | undefined;
  #dead = false;

  constructor(channel: ServerChannel) {
    this.#channel = channel;
  }

  get dead(): boolean {
    return this.#dead;
  }

  write(target: Target, data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.#dead || buf.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#queue.push({ target, data: buf, done: resolve });
      this.#pump();
    });
  }

  /** Drop everything: pending writes resolve now, later ones at once. */
  kill(): void {
    if (this.#dead) return;
    this.#dead = true;
    const pending = this.#inFlight ? [this.#inFlight, ...this.#queue] : [...this.#queue];
    this.#inFlight = undefined;
    this.#queue.length = 0;
    for (const p of pending) p.done();
  }

  /** A Writable for the handler: its writes complete as `write()`'s do, so Node's backpressure works end to end. */
  stream(target: Target): Writable {
    return new Writable({
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        this.write(target, chunk).then(() => cb(), cb);
      },
      writev: (chunks, cb) => {
        this.write(target, Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), cb);
      },
    });
  }

  #pump(): void {
    while (!this.#inFlight && !this.#dead) {
      const next = this.#queue.shift();
      if (!next) return;
      const flow = this.#channel as unknown as Ssh2ChannelFlowState;
      if (flow.outgoing.state !== 'open') {
        // The channel is closing: nothing more can be sent on it.
        next.done();
        continue;
      }
      clearFlowState(flow);
      this.#inFlight = next;
      let called = false;
      const after = (): void => {
        if (called) return;
        called = true;
        if (this.#inFlight !== next) return; // killed meanwhile: already resolved
        this.#inFlight = undefined;
        clearFlowState(flow);
        next.done();
        this.#pump();
      };
      const dest = next.target === 'stdout' ? this.#channel : this.#channel.stderr;
      dest.write(next.data, after);
    }
  }
}

function clearFlowState(flow: Ssh2ChannelFlowState): void {
  flow._chunk = undefined;
  flow._chunkcb = undefined;
  flow._chunkErr = undefined;
  flow._chunkcbErr = undefined;
}
