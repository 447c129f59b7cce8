import fs from 'node:fs';
import path from 'node:path';
import net, { type AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { PROJECT, runAs, tempDirForTestUser } from '../helpers/env.js';
import { parseMbox } from '../../src/record/mbox.js';
import { findArmoredCheckpoints } from '../../src/record/checkpoint-armor.js';
import { verifyCheckpoint, type Checkpoint } from '../../src/record/checkpoint.js';
import { readPublicKey } from '../../src/record/builder-key.js';
import { sha256, ZERO_HASH } from '../../src/record/audit-log.js';
import { rewriteAndRechain } from '../helpers/audit-forgery.js';

interface Received {
  from: string;
  to: string[];
  raw: string;
}

/** "Tue Jun  2 10:00:00 2026", the date on an mbox "From " line (UTC). */
function asctime(d: Date): string {
  const m = /^(\w+), (\d+) (\w+) (\d+) (\S+) GMT$/.exec(d.toUTCString())!; // "Tue, 02 Jun 2026 10:00:00 GMT"
  return `${m[1]} ${m[3]} ${String(Number(m[2])).padStart(2, ' ')} ${m[5]} ${m[4]}`;
}

/** Append a received message to an mbox file as a local delivery agent would (mboxrd: ">" before any (>*)From line). */
function appendToMbox(file: string, from: string, raw: string): void {
  const body = raw.replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1');
  fs.appendFileSync(
    file,
    `From ${from || 'MAILER-DAEMON'} ${asctime(new Date())}\n${body}${body.endsWith('\n') ? '' : '\n'}\n`,
  );
}

/** Headers of a raw message, unfolded, lower-cased names. */
function headers(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  const head = raw
    .replace(/\r\n/g, '\n')
    .split('\n\n')[0]!
    .replace(/\n[ \t]+/g, ' ');
  for (const l of head.split('\n')) {
    const i = l.indexOf(':');
    if (i > 0) out.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  return out;
}

/**
 * The shipped hooks against a real SMTP server on loopback: every event's mail carries a
 * checkpoint that verifies and pins the log, and `audit verify --against` the mailbox catches
 * a history rewritten (and re-chained) afterwards, and a truncated log.
 */
describe('e-mail hook and the mailed audit trail', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let smtp: SMTPServer;
  let mbox: string;
  const received: Received[] = [];
  const auths: string[] = [];

  beforeAll(async () => {
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true, // loopback only, in a test
      logger: false,
      onAuth(auth, _session, cb) {
        auths.push(`${auth.username}:${auth.password}`);
        if (auth.username === 'pocketbuild' && auth.password === 'sesame') cb(null, { user: auth.username });
        else cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('latin1');
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          received.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw });
          appendToMbox(mbox, from, raw);
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (smtp.server.address() as AddressInfo).port;

    b = new TestBuilder('mail', { pockets: { stable: {} } });
    mbox = path.join(b.root, 'audit.mbox');
    fs.writeFileSync(mbox, '');
    const password = path.join(b.root, 'smtp-password');
    fs.writeFileSync(password, 'sesame\n');
    // Appended rather than extraYaml: the password file lives in the builder's own root.
    fs.appendFileSync(
      b.configFile,
      [
        'mail:',
        '  smtp_host: 127.0.0.1',
        `  smtp_port: ${port}`,
        '  tls: none',
        '  auth_user: pocketbuild',
        `  auth_password_file: ${password}`,
        '  from: builder@pocketbuild.test',
        '  audit_to: [audit@example.org]',
        '  timeout_seconds: 4',
        '',
      ].join('\n'),
    );
    // The shipped hooks, linked as an operator would; they find dist/ through the link.
    for (const h of ['40-log', '50-email'])
      runAs(['ln', '-s', path.join(PROJECT, 'hooks', h), path.join(b.hooksDir, h)]);
    repo = new PackageRepo(b.reposDir, 'pb-mail');
    await b.startDaemon();
  });

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  });

  let id: string;
  let anchors: Array<{ event: string; checkpoint: Checkpoint; date: string }>;

  it('mails submitted, started and succeeded, each with a checkpoint that verifies and pins the log', async () => {
    const commit = repo.commitVersion({ version: '1.0' });
    id = b.submit('stable', 'pb-mail', commit);
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    for (let i = 0; i < 100 && received.length < 3; i++) await sleep(100);
    expect(b.buildLog(id)).toMatch(new RegExp(`mail: submitted of ${id} sent to audit@example.org \\(<`));
    expect(b.buildLog(id)).toMatch(new RegExp(`mail: started of ${id} sent to audit@example.org \\(<`));
    expect(b.buildLog(id)).toMatch(new RegExp(`mail: succeeded of ${id} sent to audit@example.org \\(<`));
    expect(received).toHaveLength(3);
    expect(auths).toEqual(['pocketbuild:sesame', 'pocketbuild:sesame', 'pocketbuild:sesame']);

    const key = readPublicKey(path.join(b.stateDir, 'keys', 'builder.pub'));
    const log = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').split('\n').slice(0, -1);
    const messages = parseMbox(fs.readFileSync(mbox));
    expect(messages).toHaveLength(3);
    anchors = received.map((r, i) => {
      expect(r.from).toBe('builder@pocketbuild.test');
      expect(r.to).toEqual(['audit@example.org']);
      const h = headers(r.raw);
      const event = h.get('x-pocketbuild-event')!;
      const subjects: Record<string, string> = {
        submitted: `[pocketbuild] pb-mail ${commit.slice(0, 12)} -> stable: queued (${id})`,
        started: `[pocketbuild] pb-mail ${commit.slice(0, 12)} -> stable: running (${id})`,
        succeeded: `[pocketbuild] pb-mail 1.0 -> stable: succeeded (${id})`,
      };
      expect(h.get('subject')).toBe(subjects[event!]);
      expect(h.get('x-pocketbuild-build')).toBe(id);
      const text = messages[i]!.texts.join('\n');
      for (const line of [
        `build:      ${id}`,
        'pocket:     stable',
        'package:    pb-mail',
        `commit:     ${commit}`,
        'principal:  ',
      ])
        expect(text).toContain(line);
      const [armored, ...more] = messages[i]!.texts.flatMap(findArmoredCheckpoints);
      expect(more).toEqual([]);
      const v = verifyCheckpoint(armored!, key);
      if (!v.ok) throw new Error(`the mailed checkpoint does not verify: ${v.problem}`);
      // Headers and body say the same, and the log had exactly that head at that size.
      expect(h.get('x-pocketbuild-audit-size')).toBe(String(v.checkpoint.size));
      expect(h.get('x-pocketbuild-audit-head')).toBe(v.checkpoint.head);
      expect(text).toContain(
        `audit log:  ${v.checkpoint.size} ${v.checkpoint.size === 1 ? 'entry' : 'entries'}, chain head ${v.checkpoint.head}`,
      );
      expect(log.length).toBeGreaterThanOrEqual(v.checkpoint.size);
      // (The daemon may tell of a request before its submitter has logged it: then the log may be empty.)
      expect(v.checkpoint.size === 0 ? ZERO_HASH : sha256(log[v.checkpoint.size - 1]!)).toBe(v.checkpoint.head);
      const provenance = path.join(b.stateDir, 'builds', id, 'provenance.intoto.jsonl');
      // Only the build's end has its signed provenance to name; before, the header is absent.
      expect(h.get('x-pocketbuild-provenance-sha256'), event).toBe(
        event === 'succeeded' ? sha256(fs.readFileSync(provenance, 'utf8')) : undefined,
      );
      return { event, checkpoint: v.checkpoint, date: messages[i]!.date! };
    });
    expect(anchors.map((a) => a.event)).toEqual(['submitted', 'started', 'succeeded']);
    expect(anchors[1]!.checkpoint.size).toBeGreaterThan(anchors[0]!.checkpoint.size);
    expect(anchors[2]!.checkpoint.size).toBeGreaterThan(anchors[1]!.checkpoint.size);

    // The log hook wrote one line per event, with the same anchor.
    const events = fs
      .readFileSync(path.join(b.stateDir, 'log', 'events.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes(id));
    expect(events).toHaveLength(3);
    expect(events[2]).toMatch(
      new RegExp(
        `^\\S+Z succeeded ${id} stable pb-mail 1\\.0 succeeded \\S+ ${commit} ${anchors[2]!.checkpoint.size} ${anchors[2]!.checkpoint.head} -$`,
      ),
    );
  });

  it('prints the current checkpoint for heartbeats', () => {
    const out = b.cli(['audit', 'checkpoint']).stdout;
    const [text, ...more] = findArmoredCheckpoints(out);
    expect(more).toEqual([]);
    const v = verifyCheckpoint(text!, readPublicKey(path.join(b.stateDir, 'keys', 'builder.pub')));
    const log = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').split('\n').slice(0, -1);
    expect(v).toEqual({
      ok: true,
      checkpoint: { origin: 'pocketbuild.invalid/builder/audit', size: log.length, head: sha256(log[log.length - 1]!) },
    });
  });

  it('audit verify --against the mailbox: agrees, then catches a re-chained rewrite and a truncation', async () => {
    await b.stopDaemon(); // nothing appends while the log is being forged
    const logFile = path.join(b.stateDir, 'audit.log');
    const original = fs.readFileSync(logFile, 'utf8').split('\n').slice(0, -1);
    const [, started, succeeded] = anchors.map((a) => a.checkpoint) as [Checkpoint, Checkpoint, Checkpoint];

    const ok = b.cli(['audit', 'verify', '--against', mbox]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(
      `checked 3 signed checkpoint(s) from 3 message(s) in ${mbox} (3 distinct, the newest covering ${succeeded.size} entries): the local log (${original.length} entries) agrees with all of them\n`,
    );

    // Rewrite the first entry after the started mail and re-chain the rest: the chain alone verifies...
    const forged = rewriteAndRechain(original, started.size, (e) => {
      e.actor = 'mallory';
    });
    fs.writeFileSync(logFile, forged.join('\n') + '\n');
    expect(b.cli(['audit', 'verify']).status).toBe(0);
    // ...the mail does not.
    const rewritten = b.cli(['audit', 'verify', '--against', mbox], true);
    expect(rewritten.status).toBe(1);
    const n = succeeded.size;
    expect(rewritten.stdout).toContain(
      `history rewritten: the mailed checkpoint of ${anchors[2]!.date} (message 3) says entry ${n - 1} has head ${succeeded.head}, the local log has ${sha256(forged[n - 1]!)}; ` +
        `the change is within entries ${started.size}..${n - 1} (the previous mailed checkpoint, at ${started.size} entries (message 2 of ${anchors[1]!.date}), still agrees)\n`,
    );

    // Cut below what the succeeded mail saw.
    fs.writeFileSync(logFile, original.slice(0, n - 1).join('\n') + '\n');
    const truncated = b.cli(['audit', 'verify', '--against', mbox], true);
    expect(truncated.status).toBe(1);
    expect(truncated.stdout).toContain(
      `log truncated: mail saw ${n} entries (the checkpoint of ${anchors[2]!.date} (message 3)), the local log has ${n - 1}\n`,
    );

    // Checkpoints that the key given does not verify are reported and fail the check.
    fs.writeFileSync(logFile, original.join('\n') + '\n');
    const otherKey = path.join(b.root, 'other.pub');
    fs.writeFileSync(
      otherKey,
      generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string,
    );
    const wrongKey = b.cli(['audit', 'verify', '--against', mbox, '--key', otherKey], true);
    expect(wrongKey.status).toBe(1);
    expect(wrongKey.stdout).toContain('bad signature: the checkpoint in message 1 of ');
    expect(b.cli(['audit', 'verify', '--against', path.join(b.root, 'no-such.mbox')], true).status).toBe(4);
    expect(b.cli(['audit', 'verify', '--key', otherKey], true).status).toBe(2);
  });
});

describe('the e-mail hook on its own', () => {
  /** Run hooks/50-email as the daemon would, with a config whose mail section is `mail`. */
  function runHook(dir: string, mail: string[]) {
    const config = path.join(dir, 'config.yml');
    fs.writeFileSync(
      config,
      [
        'pockets:',
        '  stable: {suite: stable, notify: [dev@example.org]}',
        'mail:',
        ...mail.map((l) => `  ${l}`),
        '',
      ].join('\n'),
    );
    const event = {
      event: 'failed',
      request: { id: '01x', pocket: 'stable', package: 'hello', commit: 'c'.repeat(40), principal: 'alice' },
      result: { status: 'failed', reason: 'no' },
    };
    const started = Date.now();
    const r = spawnSync(path.join(PROJECT, 'hooks', '50-email'), [], {
      input: JSON.stringify(event),
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH, POCKETBUILD_CONFIG: config, POCKETBUILD_EVENT: 'failed' },
    });
    return { ...r, ms: Date.now() - started };
  }

  it('says so and succeeds when mail is not configured; gives up on a silent server within its timeout', async () => {
    const dir = tempDirForTestUser('mail-hook');
    // Accepts connections and never says a word: no SMTP greeting ever comes.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const off = runHook(dir, ['smtp_host: null']);
      expect([off.status, off.stdout, off.stderr]).toEqual([0, 'mail: not configured (mail.smtp_host is null)\n', '']);

      const port = (silent.address() as AddressInfo).port;
      const hung = runHook(dir, ['smtp_host: 127.0.0.1', `smtp_port: ${port}`, 'tls: none', 'timeout_seconds: 1']);
      expect(hung.status).toBe(1);
      expect(hung.stderr).toMatch(
        new RegExp(
          `^mail: mail to dev@example\\.org via 127\\.0\\.0\\.1:${port} \\(tls: none\\) was not sent: .+; check the mail section of the config and the server\\.\\n$`,
        ),
      );
      expect(hung.ms).toBeLessThan(10_000);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
