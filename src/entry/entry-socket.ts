import fs from 'node:fs';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import { runCommand } from './run-command.js';
import { FRAME, frames, parseHeader } from './entry-protocol.js';
import { checkField } from '../queue/request.js';
import { ExitCode, errorLine } from '../util/errors.js';

/**
 * The daemon answers forced-command requests on `<state_dir>/entry.sock`, so an SSH command
 * costs a tiny client (bin/pocketbuild-ssh) instead of a Node start-up and module load each
 * time. The socket is the service user's alone (0600): whoever can connect can already write
 * the queue. The work is the same `runCommand` the Node forced command and the embedded
 * server run.
 */
export class EntrySocketServer {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly config: Config,
    readonly path: string,
    private readonly log: (line: string) => void,
  ) {}

  async start(): Promise<boolean> {
    if (Buffer.byteLength(this.path) > 100) {
      this.log(`entry socket: ${this.path} is too long for a Unix socket; SSH commands use the slower Node path`);
      return false;
    }
    if (await this.liveServerAt()) {
      this.log(`entry socket: another daemon already serves ${this.path}`);
      return false;
    }
    fs.rmSync(this.path, { force: true }); // a dead daemon's socket
    // allowHalfOpen: the client half-closes after its header and still reads the answer.
    const server = net.createServer({ allowHalfOpen: true }, (sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    fs.chmodSync(this.path, 0o600);
    this.server = server;
    return true;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private liveServerAt(): Promise<boolean> {
    return new Promise((resolve) => {
      const c = net.connect(this.path);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    const abort = new AbortController();
    sock.once('close', () => {
      this.sockets.delete(sock);
      abort.abort(new Error('the client went away'));
    });
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let started = false;
    sock.on('data', (chunk: Buffer) => {
      if (started) return; // nothing after the header is read
      buf = Buffer.concat([buf, chunk]);
      let header: { principal: string; command: string } | null;
      try {
        header = parseHeader(buf);
      } catch (e) {
        this.log(`entry socket: dropped a connection: ${errorLine(e)}`);
        sock.destroy();
        return;
      }
      if (!header) return;
      started = true;
      void this.run(sock, header.principal, header.command, abort.signal);
    });
  }

  private async run(sock: net.Socket, principal: string, command: string, signal: AbortSignal): Promise<void> {
    const channel = (type: number) =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (sock.destroyed) return cb();
          const parts = frames(type, Buffer.from(chunk));
          parts.slice(0, -1).forEach((p) => sock.write(p));
          sock.write(parts[parts.length - 1]!, () => cb());
        },
      });
    const stdout = channel(FRAME.stdout);
    const stderr = channel(FRAME.stderr);
    let code: number;
    try {
      checkField('principal', principal);
      code = await runCommand({
        config: this.config,
        principal,
        raw: command,
        transport: 'openssh',
        signal,
        io: { stdin: Readable.from([]), stdout, stderr },
        logInternal: this.log,
      });
    } catch (e) {
      // Only a malformed principal gets here (authorized_keys is the operator's, not the user's).
      stderr.write(`pocketbuild: ${errorLine(e)}\n`);
      code = ExitCode.usage;
    }
    await new Promise<void>((resolve) => stdout.end(resolve));
    await new Promise<void>((resolve) => stderr.end(resolve));
    if (!sock.destroyed) sock.end(Buffer.concat(frames(FRAME.exit, Buffer.from([code & 255]))));
  }
}
