import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EmbeddedSshServer,
  type CommandHandler,
  type EmbeddedSshServerOptions,
} from '../../src/server/embedded-ssh-server.js';

const SSH = '/usr/bin/ssh';
const HOST = '127.0.0.1';

interface SshResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  stderrBytes: Buffer;
}

let tmp: string;
let aliceKey: string;
let bobKey: string;
let carolKey: string; // authorized for nobody
let rsaKey: string;

function keygen(name: string, type = 'ed25519'): string {
  const file = path.join(tmp, name);
  const r = spawnSync(
    'ssh-keygen',
    ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', name, '-f', file],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  return file;
}

function pub(file: string): string {
  return fs.readFileSync(`${file}.pub`, 'utf8').trim();
}

function sshArgs(key: string, port: number, user = 'alice', extra: string[] = []): string[] {
  return [
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    '-i',
    key,
    '-p',
    String(port),
    ...extra,
    `${user}@${HOST}`,
  ];
}

function sshEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.SSH_AUTH_SOCK;
  delete env.DISPLAY;
  return env;
}

function startSsh(args: string[], input?: Buffer | string): ChildProcess {
  const child = spawn(SSH, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: sshEnv() });
  if (input !== undefined) {
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
  }
  return child;
}

async function collect(child: ChildProcess, timeoutMs = 60_000): Promise<SshResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    const stderrBytes = Buffer.concat(err);
    return { code, stdout: Buffer.concat(out), stderr: stderrBytes.toString(), stderrBytes };
  } finally {
    clearTimeout(timer);
  }
}

function runSsh(args: string[], input?: Buffer | string): Promise<SshResult> {
  return collect(startSsh(args, input));
}

/** A trivial handler: enough commands to exercise the transport. */
interface Harness {
  calls: { principal: string; command: string }[];
  aborted: { command: string; reason: string }[];
  waiting: ((command: string) => void)[];
  handler: CommandHandler;
}

async function writeAll(w: Writable, chunk: Buffer): Promise<void> {
  if (!w.write(chunk)) await once(w, 'drain');
}

/** Deterministic pseudo-random bytes (AES-CTR keystream), so the client can check a hash without keeping 50 MB. */
function block(seed: number, size: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(seed, 0);
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), iv).update(Buffer.alloc(size));
}

function harness(): Harness {
  const h: Harness = {
    calls: [],
    aborted: [],
    waiting: [],
    handler: async (principal, command, io, signal) => {
      h.calls.push({ principal, command });
      if (command === '') {
        // Interactive login: greet, then echo what the user typed until EOF.
        io.stdout.write(`shell for ${principal}\n`);
        await pipeline(io.stdin, io.stdout);
        return 0;
      }
      if (command === 'cat') {
        await pipeline(io.stdin, io.stdout);
        return 0;
      }
      if (command === 'count') {
        let n = 0;
        for await (const c of io.stdin) n += (c as Buffer).length;
        io.stdout.write(`${n}\n`);
        return 0;
      }
      if (command.startsWith('exit ')) return Number(command.slice(5));
      if (command === 'throw') throw new Error('boom: handler detail that must not reach the client');
      if (command === 'big') {
        // 50 MB, respecting backpressure; never ends stdout itself.
        for (let i = 0; i < 50; i++) await writeAll(io.stdout, block(i, 1 << 20));
        return 0;
      }
      if (command === 'mixed') {
        // stdout and stderr interleaved while the SSH window is the bottleneck.
        for (let i = 0; i < 12; i++) {
          await writeAll(io.stdout, block(i, 1 << 20));
          await writeAll(io.stderr, block(1000 + i, 100_000));
        }
        io.stdout.end();
        io.stderr.end();
        return 4;
      }
      if (command === 'wait') {
        const reason = await new Promise<string>((resolve) => {
          signal.addEventListener('abort', () => resolve(String((signal.reason as Error).message)), { once: true });
          h.waiting.shift()?.(command);
        });
        h.aborted.push({ command, reason });
        return 0;
      }
      io.stdout.write(JSON.stringify({ principal, command }));
      return 0;
    },
  };
  return h;
}

function waitForHandler(h: Harness): Promise<string> {
  return new Promise((resolve) => h.waiting.push(resolve));
}

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function connectClient(port: number, username: string, privateKey: Buffer): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({ host: HOST, port, username, privateKey });
  });
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-embedded-ssh-'));
  aliceKey = keygen('alice');
  bobKey = keygen('bob');
  carolKey = keygen('carol');
  rsaKey = keygen('alice-rsa', 'rsa');
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The users the servers of these tests read at each login; a test may add one. */
let users: Record<string, string[]> = {};

function options(h: Harness, logs: string[], hostKeyPath: string): EmbeddedSshServerOptions {
  users = {
    alice: [pub(aliceKey), `# alice's laptop`, pub(rsaKey)],
    bob: [pub(bobKey)],
  };
  return {
    listen: HOST,
    port: 0,
    hostKeyPath,
    users: () => users,
    account: 'build',
    handler: h.handler,
    log: (line) => logs.push(line),
  };
}

describe('EmbeddedSshServer', () => {
  let h: Harness;
  let logs: string[];
  let server: EmbeddedSshServer;
  let port: number;
  let fingerprint: string;

  beforeAll(async () => {
    h = harness();
    logs = [];
    server = new EmbeddedSshServer(options(h, logs, path.join(tmp, 'state', 'ssh', 'host_ed25519_key')));
    ({ port, hostKeyFingerprint: fingerprint } = await server.start());
  });

  afterAll(async () => {
    await server.close();
  });

  it('passes the exec command text verbatim, with the user name as principal', async () => {
    const command = `git-upload-pack '/srv/my repo.git'  "x"\t$HOME \\ ünïcödé ; | & > *`;
    const r2 = await runSsh([...sshArgs(aliceKey, port), command]);
    expect(r2.stderr).toBe('');
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout.toString())).toEqual({ principal: 'alice', command });
    const r3 = await runSsh([...sshArgs(bobKey, port, 'bob'), 'whoami']);
    expect(JSON.parse(r3.stdout.toString())).toEqual({ principal: 'bob', command: 'whoami' });
    expect(logs.some((l) => /authenticated as "alice" with ssh-ed25519 key SHA256:/.test(l))).toBe(true);
  });

  it('takes the shared account name (build@HOST), the key saying which principal it is', async () => {
    const a = await runSsh([...sshArgs(aliceKey, port, 'build'), 'whoami']);
    expect(a.stderr).toBe('');
    expect(JSON.parse(a.stdout.toString())).toEqual({ principal: 'alice', command: 'whoami' });
    const b = await runSsh([...sshArgs(bobKey, port, 'build'), 'whoami']);
    expect(JSON.parse(b.stdout.toString())).toEqual({ principal: 'bob', command: 'whoami' });
    expect(logs.some((l) => /authenticated as "bob" \(user "build"\) with ssh-ed25519/.test(l))).toBe(true);
    // A principal's own name still takes only that principal's keys.
    const asAlice = await runSsh([...sshArgs(bobKey, port, 'alice'), 'whoami']);
    expect(asAlice.code).toBe(255);
  });

  it('lets a key added while it runs log in at the next connection, and one removed no more', async () => {
    const carol = carolKey;
    expect((await runSsh([...sshArgs(carol, port, 'build'), 'whoami'])).code).toBe(255);
    users = { ...users, carol: [pub(carol)] };
    const r = await runSsh([...sshArgs(carol, port, 'build'), 'whoami']);
    expect(JSON.parse(r.stdout.toString())).toEqual({ principal: 'carol', command: 'whoami' });
    const { carol: _gone, ...rest } = users;
    users = rest;
    expect((await runSsh([...sshArgs(carol, port, 'build'), 'whoami'])).code).toBe(255);
  });

  it('accepts an RSA key (rsa-sha2 signatures)', async () => {
    const r = await runSsh([...sshArgs(rsaKey, port), 'rsa']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual({ principal: 'alice', command: 'rsa' });
  });

  it('round-trips 5 MB of random binary data through stdin and stdout byte for byte', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const r = await runSsh([...sshArgs(aliceKey, port), 'cat'], data);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(sha(r.stdout)).toBe(sha(data));
  });

  it('ends the handler stdin at the client EOF', async () => {
    expect((await runSsh([...sshArgs(aliceKey, port), 'count'], 'abc')).stdout.toString()).toBe('3\n');
    expect((await runSsh([...sshArgs(aliceKey, port), 'count'])).stdout.toString()).toBe('0\n');
  });

  it('flushes 50 MB of output (with backpressure) before exit-status', async () => {
    const child = startSsh([...sshArgs(aliceKey, port), 'big']);
    const hash = createHash('sha256');
    let n = 0;
    child.stdout!.on('data', (c: Buffer) => {
      hash.update(c);
      n += c.length;
    });
    const [code] = (await once(child, 'close')) as [number];
    const expected = createHash('sha256');
    for (let i = 0; i < 50; i++) expected.update(block(i, 1 << 20));
    expect(code).toBe(0);
    expect(n).toBe(50 << 20);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });

  it('keeps stdout and stderr intact when both wait for the SSH window', async () => {
    const r = await runSsh([...sshArgs(aliceKey, port), 'mixed']);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for (let i = 0; i < 12; i++) {
      out.push(block(i, 1 << 20));
      err.push(block(1000 + i, 100_000));
    }
    expect(r.code).toBe(4);
    expect(sha(r.stdout)).toBe(sha(Buffer.concat(out)));
    expect(sha(r.stderrBytes)).toBe(sha(Buffer.concat(err)));
  });

  it('propagates exit codes 0, 3 and 70 (handler exception, no details to the client)', async () => {
    expect((await runSsh([...sshArgs(aliceKey, port), 'exit 0'])).code).toBe(0);
    expect((await runSsh([...sshArgs(aliceKey, port), 'exit 3'])).code).toBe(3);
    const r = await runSsh([...sshArgs(aliceKey, port), 'throw']);
    expect(r.code).toBe(70);
    expect(r.stderr).toBe('pocketbuild: internal error\n');
    expect(r.stdout.length).toBe(0);
    const failed = logs.find((l) => l.includes('handler failed'));
    expect(failed).toContain('boom: handler detail');
    expect(failed).toMatch(/\n\s+at /); // the stack goes to the log
    expect(logs.some((l) => /"alice" exec "throw": exit 70/.test(l))).toBe(true);
  });

  it('refuses an unknown user and a wrong key; the handler never runs', async () => {
    const before = h.calls.length;
    const unknown = await runSsh([...sshArgs(aliceKey, port, 'mallory'), 'x']);
    expect(unknown.code).toBe(255);
    expect(unknown.stderr).toContain('Permission denied (publickey)');
    const wrong = await runSsh([...sshArgs(carolKey, port, 'alice'), 'x']);
    expect(wrong.code).toBe(255);
    const others = await runSsh([...sshArgs(bobKey, port, 'alice'), 'x']); // bob's key is not alice's
    expect(others.code).toBe(255);
    expect(h.calls.length).toBe(before);
    expect(logs.some((l) => l.includes('authentication refused: unknown user "mallory"'))).toBe(true);
    expect(
      logs.some((l) =>
        /authentication refused: key "ssh-ed25519" SHA256:\S+ is not one of user "alice"'s keys/.test(l),
      ),
    ).toBe(true);
  });

  it('refuses password and keyboard-interactive authentication without logging the password', async () => {
    const methods: ssh2.AnyAuthMethod[] = [
      { type: 'password', username: 'alice', password: 'hunter2-secret' },
      {
        type: 'keyboard-interactive',
        username: 'alice',
        prompt: (_name, _instructions, _lang, _prompts, finish) => finish(['hunter3-secret']),
      },
    ];
    const client = new ssh2.Client();
    const error = new Promise<Error>((resolve) => client.on('error', resolve));
    client.on('ready', () => client.end());
    client.connect({ host: HOST, port, username: 'alice', authHandler: methods });
    const err = await error;
    client.end();
    expect(err.message).toMatch(/authentication methods failed/);
    expect(logs.some((l) => l.includes('password authentication is not accepted'))).toBe(true);
    expect(logs.some((l) => l.includes('keyboard-interactive authentication is not accepted'))).toBe(true);
    expect(logs.join('\n')).not.toContain('hunter');
  });

  it('limits authentication attempts per connection', async () => {
    const carol = fs.readFileSync(carolKey);
    let attempts = 0;
    const client = new ssh2.Client();
    const ended = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.on('error', () => undefined);
    client.connect({
      host: HOST,
      port,
      username: 'alice',
      authHandler: (_left, _partial, next) => {
        attempts++;
        if (attempts > 50) return next(false as never);
        next({ type: 'publickey', username: 'alice', key: carol });
      },
    });
    await ended;
    expect(attempts).toBeLessThanOrEqual(7);
    expect(logs.some((l) => l.includes('too many authentication failures'))).toBe(true);
  });

  it('gives an interactive login the command "" and no pty', async () => {
    const r = await runSsh([...sshArgs(aliceKey, port, 'alice', ['-T'])], 'typed\n');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('shell for alice\ntyped\n');
    expect(h.calls.at(-1)).toEqual({ principal: 'alice', command: '' });
  });

  it('accepts but ignores a pty request', async () => {
    const r = await runSsh([...sshArgs(aliceKey, port, 'alice', ['-tt']), 'with-pty'], '');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(JSON.stringify({ principal: 'alice', command: 'with-pty' })); // no \r\n translation
  });

  it('refuses env requests but still runs the command', async () => {
    const r = await runSsh([...sshArgs(aliceKey, port, 'alice', ['-o', 'SetEnv=PB_TEST_VAR=secret-value']), 'env']);
    expect(r.code).toBe(0);
    expect(logs.some((l) => l.includes('refused env request ("PB_TEST_VAR")'))).toBe(true);
    expect(logs.join('\n')).not.toContain('secret-value');
  });

  it('refuses the sftp subsystem', async () => {
    const before = h.calls.length;
    const r = await runSsh([...sshArgs(aliceKey, port, 'alice', ['-s']), 'sftp']);
    expect(r.code).not.toBe(0);
    expect(h.calls.length).toBe(before);
    expect(logs.some((l) => l.includes('refused subsystem "sftp"'))).toBe(true);
  });

  it('refuses local port forwarding (ssh -N -L)', async () => {
    const local = await freePort();
    const child = startSsh(sshArgs(aliceKey, port, 'alice', ['-N', '-L', `${HOST}:${local}:${HOST}:${port}`]));
    const result = collect(child);
    try {
      // Wait for the client's local listener, then use it: the server must refuse the channel.
      let sock: net.Socket | undefined;
      const end = Date.now() + 10_000;
      while (!sock) {
        try {
          sock = await new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(local, HOST, () => resolve(s));
            s.once('error', reject);
          });
        } catch {
          if (Date.now() > end) throw new Error('ssh -L never listened');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const got: Buffer[] = [];
      sock.on('data', (c: Buffer) => got.push(c));
      sock.on('error', () => undefined);
      await once(sock, 'close');
      expect(Buffer.concat(got).length).toBe(0);
      await waitUntil(() => logs.some((l) => l.includes('refused port forwarding (direct-tcpip')));
    } finally {
      child.kill('SIGTERM');
    }
    await result;
  });

  it('refuses remote port forwarding (ssh -N -R)', async () => {
    const r = await runSsh(
      sshArgs(aliceKey, port, 'alice', ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `${HOST}:0:${HOST}:22`]),
    );
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/remote port forwarding failed/i);
    expect(logs.some((l) => l.includes('refused "tcpip-forward" request'))).toBe(true);
  });

  it('serves 20 concurrent clients', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runSsh([...sshArgs(i % 2 ? bobKey : aliceKey, port, i % 2 ? 'bob' : 'alice'), `job ${i}`]),
      ),
    );
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.toString())).toEqual({ principal: i % 2 ? 'bob' : 'alice', command: `job ${i}` });
    });
  });

  it('aborts the handler when the client goes away', async () => {
    const started = waitForHandler(h);
    const child = startSsh([...sshArgs(aliceKey, port), 'wait']);
    const result = collect(child);
    await started;
    child.kill('SIGKILL');
    await result;
    await waitUntil(() => h.aborted.length > 0);
    expect(h.aborted[0]!.reason).toMatch(/client (closed the channel|disconnected)/);
    await waitUntil(() => logs.some((l) => /exec "wait": aborted \(client/.test(l)));
  });

  it('aborts the handler when the client closes the channel but stays connected', async () => {
    const started = waitForHandler(h);
    const before = h.aborted.length;
    const client = await connectClient(port, 'alice', fs.readFileSync(aliceKey));
    try {
      const stream = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
        client.exec('wait', (err, s) => (err ? reject(err) : resolve(s))),
      );
      await started;
      stream.close();
      await waitUntil(() => h.aborted.length > before);
      expect(h.aborted.at(-1)!.reason).toBe('client closed the channel');
      // The connection is still usable for another session.
      const again = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
        client.exec('still-here', (err, s) => (err ? reject(err) : resolve(s))),
      );
      const out: Buffer[] = [];
      again.on('data', (c: Buffer) => out.push(c));
      const [code] = (await once(again, 'close')) as [number];
      expect(code).toBe(0);
      expect(JSON.parse(Buffer.concat(out).toString())).toEqual({ principal: 'alice', command: 'still-here' });
    } finally {
      client.end();
    }
  });

  it('refuses X11 forwarding', async () => {
    const before = h.calls.length;
    const client = await connectClient(port, 'alice', fs.readFileSync(aliceKey));
    try {
      const err = await new Promise<Error | undefined>((resolve) => client.exec('x', { x11: true }, (e) => resolve(e)));
      expect(err?.message).toMatch(/X11/);
      expect(h.calls.length).toBe(before);
      expect(logs.some((l) => l.includes('refused X11 forwarding'))).toBe(true);
    } finally {
      client.end();
    }
  });

  it('reports the host key fingerprint as ssh-keygen -l does', () => {
    const keyPath = path.join(tmp, 'state', 'ssh', 'host_ed25519_key');
    const r = spawnSync('ssh-keygen', ['-l', '-f', keyPath], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.split(' ')[1]).toBe(fingerprint);
  });
});

describe('EmbeddedSshServer host key and shutdown', () => {
  it('creates the host key 0600 in a 0700 directory and keeps it across restarts', async () => {
    const keyPath = path.join(tmp, 'restart', 'deep', 'host_key');
    const knownHosts = path.join(tmp, 'known_hosts');
    const logs: string[] = [];
    const h = harness();
    const first = new EmbeddedSshServer(options(h, logs, keyPath));
    const a = await first.start();
    expect(fs.statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(keyPath)).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(keyPath, 'utf8')).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(spawnSync('ssh-keygen', ['-y', '-f', keyPath], { encoding: 'utf8' }).stdout).toMatch(/^ssh-ed25519 /);
    const trust = ['-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'HostKeyAlias=pocketbuild-test'];
    const r1 = await runSsh([...trust, '-o', 'StrictHostKeyChecking=accept-new', ...sshArgs(aliceKey, a.port), 'one']);
    expect(r1.code, r1.stderr).toBe(0);
    await first.close();

    const second = new EmbeddedSshServer(options(h, logs, keyPath));
    const b = await second.start();
    try {
      expect(b.hostKeyFingerprint).toBe(a.hostKeyFingerprint);
      // A client that now trusts only the first key still connects.
      const r2 = await runSsh([...trust, '-o', 'StrictHostKeyChecking=yes', ...sshArgs(aliceKey, b.port), 'two']);
      expect(r2.code, r2.stderr).toBe(0);
    } finally {
      await second.close();
    }
    expect(logs.filter((l) => l.includes('generated host key')).length).toBe(1);
  });

  it('close() aborts running handlers, ends sessions and returns the same promise twice', async () => {
    const logs: string[] = [];
    const h = harness();
    const server = new EmbeddedSshServer(options(h, logs, path.join(tmp, 'close', 'host_key')));
    const { port } = await server.start();
    const started = waitForHandler(h);
    const child = startSsh([...sshArgs(aliceKey, port), 'wait']);
    const result = collect(child);
    await started;
    const p1 = server.close();
    const p2 = server.close();
    expect(p2).toBe(p1);
    await p1;
    expect(h.aborted).toEqual([{ command: 'wait', reason: 'server shutting down' }]);
    const r = await result;
    expect(r.code).not.toBe(0);
    // Not listening any more.
    await expect(
      new Promise((resolve, reject) => {
        const s = net.connect(port, HOST, () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', reject);
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    await expect(server.start()).rejects.toThrow(/after close/);
  });

  it('rejects a configured line that is not a public key', () => {
    const h = harness();
    expect(
      () =>
        new EmbeddedSshServer({ ...options(h, [], path.join(tmp, 'x', 'k')), users: () => ({ alice: ['not a key'] }) }),
    ).toThrow(/"alice" key 1: not an OpenSSH public key line/);
  });
});
