import fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BuildRecord } from '../record/build-record.js';

/** How often a followed log is looked at; the log is a file another process appends to. */
const POLL_MS = 300;
/** At most this much is sent per event, and not more while the client has this much unread. */
const CHUNK = 64 * 1024;
/** A client that reads nothing for this long is let go. */
const STALLED_MS = 5 * 60_000;

/**
 * A build's log as Server-Sent Events: `log` events of whole lines (JSON strings), each with
 * the byte offset after it as its id, so a reconnecting EventSource (Last-Event-ID) or
 * `?from=OFFSET` resumes where it left off; then one `end` event with the status once the
 * build has a result and everything before it was sent. A client that stops reading is not
 * written to (its socket buffer is the bound) and is dropped once it stalls.
 */
export function streamLog(req: FastifyRequest, reply: FastifyReply, rec: BuildRecord): void {
  const last = req.headers['last-event-id'];
  const from = Number((typeof last === 'string' ? last : undefined) ?? (req.query as { from?: string }).from ?? 0);
  let offset = Number.isSafeInteger(from) && from >= 0 ? from : 0;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // One stream per connection: its end is the connection's end, for every kind of client.
    connection: 'close',
  });
  res.write(': pocketbuild build log\nretry: 2000\n\n');
  let stalledSince: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const stop = () => {
    closed = true;
    if (timer) clearTimeout(timer);
  };
  res.once('close', stop);

  const tick = () => {
    if (closed) return;
    if (res.writableNeedDrain) {
      stalledSince ??= Date.now();
      if (Date.now() - stalledSince > STALLED_MS) return void res.destroy();
      timer = setTimeout(tick, POLL_MS);
      return;
    }
    stalledSince = null;
    // The result first: a log read after it was written is the whole log.
    const ended = rec.result();
    const chunk = readLines(rec.logFile, offset, ended !== null);
    if (chunk) {
      offset += chunk.length;
      res.write(`id: ${offset}\nevent: log\ndata: ${JSON.stringify(chunk.toString('utf8'))}\n\n`);
      timer = setTimeout(tick, chunk.length === CHUNK ? 0 : POLL_MS);
      return;
    }
    if (ended) {
      res.end(`event: end\ndata: ${JSON.stringify({ status: ended.status, code: ended.code ?? null })}\n\n`);
      return stop();
    }
    timer = setTimeout(tick, POLL_MS);
  };
  tick();
}

/** Up to CHUNK bytes from `offset`, cut after the last newline (all of it once the log is final). */
function readLines(file: string, offset: number, final: boolean): Buffer | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(CHUNK);
    const n = fs.readSync(fd, buf, 0, CHUNK, offset);
    if (n === 0) return null;
    const nl = buf.lastIndexOf(0x0a, n - 1);
    if (nl >= 0 && !(final && n < CHUNK)) return buf.subarray(0, nl + 1);
    return final || n === CHUNK ? buf.subarray(0, n) : null;
  } finally {
    fs.closeSync(fd);
  }
}
