import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { ClientKeys, OpenSshServer, type SshTarget } from '../helpers/ssh.js';
import { SSH_POCKETS, SSH_PRINCIPALS, sshExtraYaml, sshScenario } from '../helpers/ssh-scenario.js';
import { asTestUser, tempDirForTestUser, testUserEnv, writeExecutable } from '../helpers/env.js';

/**
 * A transparent relay in front of the daemon's entry socket, run as the daemon's user (its
 * own process: the test's ssh calls are synchronous and would block a relay in this one).
 * For each connection it appends {principal, command, code} to the record file: the header
 * the fast client sent (src/entry/entry-protocol.ts) and the exit code in the daemon's last
 * frame, written before that frame is passed on, so the line is there when ssh returns.
 */
const RELAY = `
const fs = require('node:fs');
const net = require('node:net');
const [listen, upstream, record] = process.argv.slice(1);
fs.rmSync(listen, { force: true });
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const up = net.connect({ path: upstream, allowHalfOpen: true });
  let head = Buffer.alloc(0);
  let header = null;
  let frames = Buffer.alloc(0);
  let code = null;
  let done = false;
  const note = (error) => {
    if (done) return;
    done = true;
    fs.appendFileSync(record, JSON.stringify({ ...(header ?? { principal: null, command: null }), code, ...(error ? { error } : {}) }) + '\\n');
  };
  client.on('data', (c) => {
    if (!header) {
      head = Buffer.concat([head, c]);
      const nul = [];
      for (let i = 0; i < head.length && nul.length < 3; i++) if (head[i] === 0) nul.push(i);
      if (nul.length === 3) header = { principal: head.subarray(nul[0] + 1, nul[1]).toString(), command: head.subarray(nul[1] + 1, nul[2]).toString() };
    }
    up.write(c);
  });
  client.on('end', () => up.end());
  up.on('data', (c) => {
    frames = Buffer.concat([frames, c]);
    while (frames.length >= 5 && frames.length >= 5 + frames.readUInt32BE(1)) {
      if (frames[0] === 3) {
        code = frames[5];
        note();
      }
      frames = frames.subarray(5 + frames.readUInt32BE(1));
    }
    client.write(c);
  });
  up.on('end', () => {
    note(code === null ? 'the daemon closed without an exit frame' : undefined);
    client.end();
  });
  up.on('error', (e) => {
    note(e.message);
    client.destroy();
  });
  client.on('error', () => up.destroy());
  client.on('close', () => up.destroy());
});
server.listen(listen, () => {
  fs.chmodSync(listen, 0o600);
  console.log('RELAYING');
});
`;

/** The same scenario through real sshd with the fast forced command (bin/pocketbuild-ssh → the daemon's entry socket). */
describe('through OpenSSH with the fast client and the daemon entry socket', () => {
  let b: TestBuilder;
  let sshd: OpenSshServer;
  let relay: ChildProcess | undefined;
  /** What went through the entry socket, one JSON line per connection. */
  let relayed: string;
  /** What bin/pocketbuild-ssh handed to Node instead: the SSH_ORIGINAL_COMMAND of each fall-through. */
  let fellThrough: string;

  beforeAll(async () => {
    const keys = new ClientKeys(tempDirForTestUser('keys'), SSH_PRINCIPALS);
    b = new TestBuilder('fastssh', { pockets: SSH_POCKETS, extraYaml: sshExtraYaml({}, 2222) });
    const socket = path.join(b.stateDir, 'entry.sock');
    const relaySocket = path.join(b.root, 'entry-relay.sock');
    relayed = path.join(b.root, 'relayed.jsonl');
    fellThrough = path.join(b.root, 'fell-through.log');
    // The fast client's --node: notes the command, then runs the real Node forced command.
    const node = path.join(b.root, 'node-fall-through');
    writeExecutable(
      node,
      `#!/bin/sh\nprintf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> ${fellThrough}\nexec ${process.execPath} "$@"`,
    );
    // The keys' forced commands reach the daemon through the relay; nothing else changes.
    sshd = new OpenSshServer(b.root, keys, b.configFile, SSH_PRINCIPALS, {}, relaySocket, node);
    await sshd.start();
    await b.startDaemon();
    expect(b.log()).toContain(`daemon: answering SSH commands on ${socket}`);
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600);

    const argv = asTestUser([process.execPath, '-e', RELAY, relaySocket, socket, relayed]);
    const r = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    relay = r;
    let out = '';
    r.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 100 && !out.includes('RELAYING') && r.exitCode === null; i++) await sleep(100);
    expect(out, 'the relay in front of the entry socket did not start').toContain('RELAYING');
  });
  afterAll(async () => {
    relay?.kill('SIGTERM');
    await sshd?.stop();
    await b?.cleanup();
  });

  it('submit, status, log --follow, cancel, refusals, git push/clone with pocket-ref protection', async () => {
    // Every command the scenario runs over ssh (all but git's), with the exit code ssh gave.
    const ran: Array<{ principal: string; command: string; code: number | null }> = [];
    const target: SshTarget = {
      name: sshd.name,
      run: (principal, command, input) => {
        const r = sshd.run(principal, command, input);
        ran.push({ principal, command, code: r.code });
        return r;
      },
      git: (principal, pkg) => sshd.git(principal, pkg),
    };
    await sshScenario(b, target);

    // The commands were answered by the daemon, not by Node forced commands: each one went
    // through the entry socket, in order, and the exit code ssh reported is the one in the
    // daemon's answer...
    const lines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);
    expect(ran.length).toBeGreaterThanOrEqual(10);
    expect(lines(relayed).map((l) => JSON.parse(l))).toEqual(ran);
    // ...and only git's commands fell through to Node (git push and clone ran, so some did).
    const viaNode = lines(fellThrough);
    expect(viaNode.length).toBeGreaterThan(0);
    expect(viaNode.filter((c) => !/^git-(upload|receive)-pack 'pb-(ssh|nope)\.git'$/.test(c))).toEqual([]);
    expect(viaNode).toEqual(expect.arrayContaining(["git-receive-pack 'pb-ssh.git'", "git-upload-pack 'pb-ssh.git'"]));
  });
});
