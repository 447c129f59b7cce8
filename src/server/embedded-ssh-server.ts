import { errorLine, PocketbuildError } from '../util/errors.js';
import net from 'node:net';
import { PassThrough, type Writable } from 'node:stream';
import ssh2 from 'ssh2';
import type {
  AuthContext,
  ClientInfo,
  Connection,
  ExecInfo,
  ServerChannel,
  Session,
  SetEnvInfo,
  SignalInfo,
  SocketBindInfo,
  SocketRequestInfo,
  SubsystemInfo,
  TcpipBindInfo,
  TcpipRequestInfo,
} from 'ssh2';
import { matchKey, parseAuthorizedKeys, type AuthorizedKey } from './ssh-authorized-keys.js';
import { ChannelOutput } from './ssh-channel-output.js';
import { loadOrCreateHostKey, sshFingerprint } from './ssh-host-key.js';
import type { SessionIO } from '../entry/session-io.js';

const { Server: Ssh2Server } = ssh2;

export type { SessionIO };

/** Runs one command for an authenticated principal; resolves to the exit code. `command` is '' for an interactive login (shell request). */
export type CommandHandler = (
  principal: string,
  command: string,
  io: SessionIO,
  signal: AbortSignal,
) => Promise<number>;

export interface EmbeddedSshServerOptions {
  listen: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Generated (ed25519, OpenSSH private key format, mode 0600, parent dir 0700) on first start if missing, reused after. */
  hostKeyPath: string;
  /**
   * principal -> OpenSSH public key lines, asked at each login, so keys added or removed
   * while the server runs take effect at the next connection.
   */
  users: () => Record<string, string[]>;
  /** The shared login name (build@HOST): with it, the key alone says who the principal is. */
  account: string;
  handler: CommandHandler;
  /** One line per connection/auth/command outcome; never secrets. */
  log: (line: string) => void;
}

/** Failed authentication requests allowed per connection (OpenSSH's MaxAuthTries default). */
const MAX_AUTH_FAILURES = 6;
/** Time from TCP accept to successful authentication (OpenSSH's LoginGraceTime is 120 s). */
const LOGIN_GRACE_MS = 60_000;
/** Concurrently open sessions per connection (OpenSSH's MaxSessions default). */
const MAX_SESSIONS_PER_CONNECTION = 10;
/** How long close() waits for aborted handlers to settle and clients to hang up. */
const CLOSE_GRACE_MS = 5_000;
/** Exit status for a handler that threw (EX_SOFTWARE). */
const INTERNAL_ERROR_STATUS = 70;

interface SocketEntry {
  socket: net.Socket;
  graceTimer: NodeJS.Timeout | undefined;
}

interface ConnState {
  tag: string;
  client: Connection;
  principal: string | undefined;
  failures: number;
  sawNone: boolean;
  sessions: number;
}

interface RunningCommand {
  abort: (reason: string) => void;
  done: Promise<void>;
}

/**
 * An SSH server inside the daemon, for hosts where pocketbuild cannot use the system's OpenSSH
 * with a forced command. Transport only: it authenticates a principal by public key (the SSH
 * user name is the principal) and hands each exec'd command line to `handler`, the same one the
 * forced command uses. No shell, pty, SFTP, agent, X11 or port forwarding is ever provided.
 */
export class EmbeddedSshServer {
  readonly #o: EmbeddedSshServerOptions;
  #keys: { source: string; parsed: Map<string, AuthorizedKey[]> } | undefined;
  #tcp: net.Server | undefined;
  #ssh: InstanceType<typeof Ssh2Server> | undefined;
  readonly #sockets = new Map<string, SocketEntry>();
  readonly #conns = new Set<ConnState>();
  readonly #commands = new Set<RunningCommand>();
  #starting: Promise<{ port: number; hostKeyFingerprint: string }> | undefined;
  #closing: Promise<void> | undefined;
  #nextConn = 1;

  constructor(o: EmbeddedSshServerOptions) {
    this.#o = o;
    this.#currentKeys(); // a bad key list fails the start, not the first login
  }

  start(): Promise<{ port: number; hostKeyFingerprint: string }> {
    if (this.#closing) return Promise.reject(new Error('embedded SSH server: start() after close()'));
    if (this.#starting) return Promise.reject(new Error('embedded SSH server: start() called twice'));
    this.#starting = this.#start();
    return this.#starting;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #start(): Promise<{ port: number; hostKeyFingerprint: string }> {
    const hostKey = await loadOrCreateHostKey(this.#o.hostKeyPath, (line) => this.#log(line));
    if (hostKey.created) this.#log(`ssh: generated host key ${this.#o.hostKeyPath} (${hostKey.fingerprint})`);
    if (this.#closing) throw new Error('embedded SSH server: closed while starting');

    const ssh = new Ssh2Server({ hostKeys: [hostKey.privateKey], ident: 'pocketbuild' });
    ssh.on('connection', (client: Connection, info: ClientInfo) => this.#onConnection(client, info));
    ssh.on('error', (err: Error) => this.#log(`ssh: server error: ${err.message}`));
    this.#ssh = ssh;

    // Our own listener, so that this object owns every socket (for the login grace timer and
    // for close()); ssh2 gets each one through injectSocket.
    const tcp = net.createServer((socket) => this.#onSocket(socket));
    this.#tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new PocketbuildError(
            'ListenFailed',
            `the SSH server cannot listen on ${this.#o.listen} port ${this.#o.port}: ${
              e.code === 'EADDRINUSE'
                ? 'the port is in use (is pocketbuild already running? "npm start" twice starts it twice)'
                : errorLine(e)
            }; stop what uses it, or choose another ssh.port`,
          ),
        ),
      );
      tcp.listen({ host: this.#o.listen, port: this.#o.port }, () => {
        tcp.removeAllListeners('error');
        resolve();
      });
    });
    tcp.on('error', (err) => this.#log(`ssh: listener error: ${err.message}`));
    const addr = tcp.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.#o.port;
    this.#log(`ssh: listening on ${this.#o.listen}:${port}, host key ${hostKey.fingerprint}`);
    return { port, hostKeyFingerprint: hostKey.fingerprint };
  }

  async #close(): Promise<void> {
    // Let start() finish (or fail) first, so there is no half-made listener left behind.
    await this.#starting?.catch(() => undefined);
    const tcp = this.#tcp;
    const listenerClosed = tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : Promise.resolve();

    const commands = [...this.#commands];
    for (const c of commands) c.abort('server shutting down');
    for (const c of this.#conns) c.client.end();

    const settled = Promise.allSettled(commands.map((c) => c.done));
    const timedOut = await withTimeout(settled, CLOSE_GRACE_MS);
    if (timedOut)
      this.#log(`ssh: ${this.#commands.size} command handler(s) still running ${CLOSE_GRACE_MS} ms after abort`);

    // Clients normally hang up at once after our disconnect; do not wait for ones that do not.
    if (this.#sockets.size) {
      await withTimeout(listenerClosed, 500);
      for (const { socket } of this.#sockets.values()) socket.destroy();
    }
    await listenerClosed;
    this.#log('ssh: closed');
  }

  #log(line: string): void {
    try {
      this.#o.log(line);
    } catch {
      // A broken logger must not take the server down.
    }
  }

  #onSocket(socket: net.Socket): void {
    socket.on('error', () => undefined); // ssh2 reports socket errors on the connection
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const entry: SocketEntry = {
      socket,
      graceTimer: setTimeout(() => {
        this.#log(`ssh ${key}: not authenticated within ${LOGIN_GRACE_MS / 1000} s, disconnecting`);
        socket.destroy();
      }, LOGIN_GRACE_MS),
    };
    this.#sockets.set(key, entry);
    socket.once('close', () => {
      clearTimeout(entry.graceTimer);
      if (this.#sockets.get(key) === entry) this.#sockets.delete(key);
    });
    this.#ssh?.injectSocket(socket);
  }

  #onConnection(client: Connection, info: ClientInfo): void {
    const conn: ConnState = {
      tag: `ssh #${this.#nextConn++} ${info.ip}:${info.port}`,
      client,
      principal: undefined,
      failures: 0,
      sawNone: false,
      sessions: 0,
    };
    client.on('error', (err: Error) => this.#log(`${conn.tag}: ${err.message}`));
    if (this.#closing) {
      client.end();
      return;
    }
    this.#conns.add(conn);
    this.#log(`${conn.tag}: connected (${quote(info.header.versions.software)})`);

    client.on('authentication', (ctx: AuthContext) => this.#authenticate(conn, ctx));
    client.on('ready', () => {
      const entry = this.#sockets.get(`${info.ip}:${info.port}`);
      if (entry) {
        clearTimeout(entry.graceTimer);
        entry.graceTimer = undefined;
      }
    });
    client.on('session', (accept: () => Session, reject: () => void) => {
      if (!conn.principal || this.#closing) return reject();
      if (conn.sessions >= MAX_SESSIONS_PER_CONNECTION) {
        this.#log(`${conn.tag}: refused a session: already ${conn.sessions} open on this connection`);
        return reject();
      }
      this.#onSession(conn, accept());
    });
    client.on('tcpip', (_accept: unknown, reject: () => void, i: TcpipRequestInfo) => {
      this.#log(`${conn.tag}: refused port forwarding (direct-tcpip to ${quote(`${i.destIP}:${i.destPort}`)})`);
      reject();
    });
    client.on('openssh.streamlocal', (_accept: unknown, reject: () => void, i: SocketRequestInfo) => {
      this.#log(`${conn.tag}: refused socket forwarding (to ${quote(i.socketPath)})`);
      reject();
    });
    client.on(
      'request',
      (
        _accept: unknown,
        reject: (() => void) | undefined,
        name: string,
        i: Partial<TcpipBindInfo & SocketBindInfo>,
      ) => {
        const what = i.socketPath !== undefined ? i.socketPath : `${i.bindAddr}:${i.bindPort}`;
        this.#log(`${conn.tag}: refused ${quote(name)} request (${quote(what)})`);
        reject?.();
      },
    );
    client.on('close', () => {
      this.#conns.delete(conn);
      this.#log(`${conn.tag}: disconnected${conn.principal ? ` (${quote(conn.principal)})` : ''}`);
    });
  }

  #authenticate(conn: ConnState, ctx: AuthContext): void {
    const fail = (reason: string | undefined): void => {
      if (reason === undefined) {
        ctx.reject(['publickey']);
        return;
      }
      conn.failures++;
      this.#log(`${conn.tag}: authentication refused: ${reason}`);
      if (conn.failures >= MAX_AUTH_FAILURES) {
        this.#log(`${conn.tag}: too many authentication failures (${conn.failures}), disconnecting`);
        ctx.reject([]);
        conn.client.end();
        return;
      }
      ctx.reject(['publickey']);
    };

    // Clients ask with "none" first to learn the methods; that is not a failure worth logging.
    if (ctx.method === 'none' && !conn.sawNone) {
      conn.sawNone = true;
      return fail(undefined);
    }
    const user = quote(ctx.username);
    if (ctx.method !== 'publickey') return fail(`${ctx.method} authentication is not accepted (user ${user})`);

    let all: Map<string, AuthorizedKey[]>;
    try {
      all = this.#currentKeys();
    } catch (e) {
      return fail(`the user list cannot be read: ${(e as Error).message}`);
    }
    // The shared account takes any principal's key; a principal's own name only its keys.
    const candidates =
      ctx.username === this.#o.account
        ? [...all]
        : all.has(ctx.username)
          ? [[ctx.username, all.get(ctx.username)!] as const]
          : [];
    if (!candidates.length) return fail(`unknown user ${user}`);
    const offered = ctx.key;
    if (!offered || !Buffer.isBuffer(offered.data)) return fail(`malformed publickey request (user ${user})`);
    let principal: string | undefined;
    let key: AuthorizedKey | undefined;
    for (const [p, keys] of candidates) {
      key = matchKey(keys, offered.algo, offered.data, ctx.hashAlgo);
      if (key) {
        principal = p;
        break;
      }
    }
    if (!key || !principal) {
      return fail(`key ${quote(offered.algo)} ${sshFingerprint(offered.data)} is not one of user ${user}'s keys`);
    }
    // Without a signature the client only asks whether this key would do.
    if (!ctx.signature) return ctx.accept();
    if (!ctx.blob) return fail(`malformed publickey request (user ${user})`);
    let ok: unknown;
    try {
      ok = key.parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo);
    } catch {
      ok = false;
    }
    if (ok !== true) return fail(`bad signature for key ${key.fingerprint} (user ${user})`);
    conn.principal = principal;
    this.#log(
      `${conn.tag}: authenticated as ${quote(principal)}${principal === ctx.username ? '' : ` (user ${user})`} with ${key.type} key ${key.fingerprint}`,
    );
    ctx.accept();
  }

  /** The users' keys, parsed again only when the list changed. */
  #currentKeys(): Map<string, AuthorizedKey[]> {
    const users = this.#o.users();
    const source = JSON.stringify(users);
    if (this.#keys?.source !== source)
      this.#keys = { source, parsed: parseAuthorizedKeys(users, (line) => this.#log(line)) };
    return this.#keys.parsed;
  }

  #onSession(conn: ConnState, session: Session): void {
    conn.sessions++;
    session.once('close', () => conn.sessions--);

    const refuse = (what: string) => (_accept: unknown, reject?: () => void) => {
      this.#log(`${conn.tag}: refused ${what}`);
      reject?.();
    };
    // A pty request is accepted (git and ssh clients may send one) but no pty is allocated.
    session.on('pty', (accept?: () => void) => accept?.());
    session.on('window-change', (accept?: () => void) => accept?.());
    session.on('env', (_accept: unknown, reject: (() => void) | undefined, i: SetEnvInfo) => {
      this.#log(`${conn.tag}: refused env request (${quote(String(i.key))})`);
      reject?.();
    });
    session.on('x11', refuse('X11 forwarding'));
    session.on('auth-agent', refuse('agent forwarding'));
    session.on('signal', (_accept: unknown, reject: (() => void) | undefined, i: SignalInfo) => {
      this.#log(`${conn.tag}: refused signal request (${quote(String(i.name))})`);
      reject?.();
    });
    // No 'sftp' listener: ssh2 then reports an sftp request here too.
    session.on('subsystem', (_accept: unknown, reject: (() => void) | undefined, i: SubsystemInfo) => {
      this.#log(`${conn.tag}: refused subsystem ${quote(String(i.name))}`);
      reject?.();
    });

    let started = false;
    const start = (command: string, accept: () => ServerChannel | undefined, reject?: () => void): void => {
      const what = command === '' ? 'shell' : `exec ${quote(command)}`;
      if (started || this.#closing || !conn.principal) {
        this.#log(`${conn.tag}: refused ${what}: ${started ? 'one command per session' : 'server shutting down'}`);
        reject?.();
        return;
      }
      started = true;
      const channel = accept();
      if (!channel) return;
      this.#run(conn, conn.principal, command, what, session, channel);
    };
    session.on('exec', (accept: () => ServerChannel | undefined, reject: (() => void) | undefined, i: ExecInfo) =>
      start(typeof i.command === 'string' ? i.command : String(i.command), accept, reject),
    );
    session.on('shell', (accept: () => ServerChannel | undefined, reject?: () => void) => start('', accept, reject));
  }

  #run(
    conn: ConnState,
    principal: string,
    command: string,
    what: string,
    session: Session,
    channel: ServerChannel,
  ): void {
    const started = Date.now();
    const ac = new AbortController();
    const out = new ChannelOutput(channel);
    const stdin = new PassThrough({ highWaterMark: 64 * 1024 });
    const stdout = out.stream('stdout');
    const stderr = out.stream('stderr');
    const streamError = (name: string) => (err: Error) => this.#log(`${conn.tag}: ${what}: ${name}: ${err.message}`);
    stdin.on('error', streamError('stdin'));
    stdout.on('error', streamError('stdout'));
    stderr.on('error', streamError('stderr'));
    channel.on('error', streamError('channel'));
    channel.pipe(stdin);

    // From here until exit-status is sent, the client going away (or close()) aborts the command.
    let active = true;
    let abortReason: string | undefined;
    const abort = (reason: string): void => {
      if (!active || abortReason !== undefined) return;
      abortReason = reason;
      out.kill();
      channel.unpipe(stdin);
      stdin.destroy();
      stdout.destroy();
      stderr.destroy();
      ac.abort(new Error(reason));
    };
    const onChannelClosed = (): void => abort('client closed the channel');
    const onDisconnect = (): void => abort('client disconnected');
    session.once('close', onChannelClosed);
    channel.once('close', onChannelClosed);
    conn.client.once('close', onDisconnect);

    const done = (async (): Promise<void> => {
      let code: number;
      let crashed = false;
      try {
        const r: unknown = await this.#o.handler(principal, command, { stdin, stdout, stderr }, ac.signal);
        if (typeof r === 'number' && Number.isInteger(r) && r >= 0 && r <= 255) {
          code = r;
        } else {
          this.#log(`${conn.tag}: ${what}: handler returned ${quote(String(r))}, not an exit status 0-255`);
          code = INTERNAL_ERROR_STATUS;
        }
      } catch (err) {
        crashed = true;
        code = INTERNAL_ERROR_STATUS;
        const detail = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
        this.#log(`${conn.tag}: ${what}: handler failed: ${detail}`);
      }

      if (abortReason === undefined) {
        // Everything the handler wrote reaches the client before exit-status and close.
        await Promise.all([endAndFlush(stdout), endAndFlush(stderr)]);
        if (crashed) await out.write('stderr', 'pocketbuild: internal error\n');
      }
      active = false;
      session.off('close', onChannelClosed);
      channel.off('close', onChannelClosed);
      conn.client.off('close', onDisconnect);

      const outcome = abortReason !== undefined ? `aborted (${abortReason})` : `exit ${code}`;
      if (abortReason === undefined && !out.dead && isOpen(channel)) {
        channel.exit(code);
        channel.end(); // EOF and close, once ssh2 has nothing left to send
      } else if (abortReason === 'server shutting down' && isOpen(channel)) {
        channel.close();
      }
      // Input the command did not read is discarded, so the channel can finish closing.
      channel.unpipe(stdin);
      channel.resume();
      if (!stdin.readableEnded) stdin.destroy();
      this.#log(`${conn.tag}: ${quote(principal)} ${what}: ${outcome}, ${Date.now() - started} ms`);
    })();

    const entry: RunningCommand = { abort, done };
    this.#commands.add(entry);
    done
      .catch((err: unknown) =>
        this.#log(`${conn.tag}: ${what}: session error: ${err instanceof Error ? err.message : String(err)}`),
      )
      .finally(() => this.#commands.delete(entry));
  }
}

function isOpen(channel: ServerChannel): boolean {
  return (channel as unknown as { outgoing: { state: string } }).outgoing.state === 'open';
}

/** End a handler's output stream (if it has not) and wait until everything written to it is sent or dropped. */
function endAndFlush(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableFinished || stream.destroyed) return resolve();
    stream.once('finish', resolve);
    stream.once('close', resolve);
    if (!stream.writableEnded) stream.end();
  });
}

/** Resolves true if `p` did not settle within `ms`. */
async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  try {
    return await Promise.race([p.then(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Client-supplied text for a log line: quoted, control characters escaped, bounded. */
function quote(s: string): string {
  const max = 200;
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}
