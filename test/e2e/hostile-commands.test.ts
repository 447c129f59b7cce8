import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { CLI, PROJECT, asTestUser, testUserEnv } from '../helpers/env.js';
import { ClientKeys, OpenSshServer } from '../helpers/ssh.js';

interface Hostile {
  cmd: string;
  why: string;
}

/** Run a forced command exactly as sshd does: the typed text in SSH_ORIGINAL_COMMAND. */
function forcedCommand(
  configFile: string,
  principal: string,
  cmd: string,
  fastSocket?: string,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const argv = asTestUser(
    fastSocket
      ? [
          path.join(PROJECT, 'bin', 'pocketbuild-ssh'),
          '--config',
          configFile,
          '--socket',
          fastSocket,
          '--principal',
          principal,
          '--node',
          process.execPath,
        ]
      : [process.execPath, CLI, '--config', configFile, 'ssh', '--principal', principal],
  );
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), {
      env: testUserEnv({ SSH_ORIGINAL_COMMAND: cmd }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    [...Array(n)].map(async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Hundreds of hostile or malformed commands through the SSH entrypoint: each one is refused
 * with a non-zero exit and one line, nothing is queued, nothing runs, and each refusal is in
 * the audit log with the raw command.
 */
describe('hostile commands through the entrypoint', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let marker: string;
  let corpus: Hostile[];

  beforeAll(() => {
    b = new TestBuilder('hostile', { pockets: { stable: { acl: ['*'] } } });
    repo = new PackageRepo(b.reposDir, 'pb-target');
    repo.commitVersion({ version: '1.0' });
    marker = path.join(b.root, 'PWNED');
    // Payloads that would leave a trace if anything ever reached a shell.
    const canaries = [
      `submit stable pb-target main; touch ${marker}`,
      `submit stable pb-target $(touch ${marker})`,
      `submit stable pb-target \`touch ${marker}\``,
      `status && touch ${marker}`,
      `submit stable pb-target main\ntouch ${marker}`,
      `git-upload-pack 'pb-target.git'; touch ${marker}`,
      `whoami | touch ${marker}`,
    ].map((cmd) => ({ cmd, why: 'canary' }));
    corpus = [
      ...fs
        .readFileSync(path.join(PROJECT, 'test/fixtures/hostile-commands.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Hostile),
      ...canaries,
    ];
    expect(corpus.length).toBeGreaterThanOrEqual(200);
  });
  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  /** Each command: non-zero exit, exactly one "pocketbuild: …" line on stderr, nothing on stdout; nothing queued, nothing run. */
  function expectAllRefused(
    cmds: Hostile[],
    results: Array<{ code: number | null; stderr: string; stdout: string }>,
  ): void {
    const bad = results
      .map((r, i) => ({ r, h: cmds[i]! }))
      .filter(
        ({ r }) =>
          r.code === 0 ||
          r.code === null ||
          r.stderr.split('\n').length !== 2 ||
          !r.stderr.startsWith('pocketbuild: ') ||
          r.stdout !== '',
      );
    expect(
      bad.map(({ h, r }) => `${h.why}: ${JSON.stringify(h.cmd)} -> ${r.code} ${JSON.stringify(r.stderr)}`),
    ).toEqual([]);
    expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'))).toEqual([]);
    expect(fs.existsSync(marker)).toBe(false);
  }

  function auditRefusals(): Array<{ actor: string; data: { raw: string; reason: string } }> {
    const f = path.join(b.stateDir, 'audit.log');
    if (!fs.existsSync(f)) return [];
    return fs
      .readFileSync(f, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.type === 'request.refused');
  }

  it('refuses every one through the OpenSSH forced command, queueing and running nothing', async () => {
    // An environment variable cannot carry NUL, and neither can sshd: those go through the embedded server test.
    const viaEnv = corpus.filter((h) => !h.cmd.includes('\0'));
    expectAllRefused(viaEnv, await pool(viaEnv, 4, (h) => forcedCommand(b.configFile, 'mallory', h.cmd)));
    const raws = new Set(
      auditRefusals()
        .filter((e) => e.actor === 'mallory')
        .map((e) => e.data.raw),
    );
    // What the program received: the environment carries UTF-8, so a lone surrogate arrives as U+FFFD.
    const received = (cmd: string) => Buffer.from(cmd, 'utf8').toString('utf8');
    expect(viaEnv.filter((h) => !raws.has(received(h.cmd))).map((h) => h.why)).toEqual([]);
  });

  it("refuses every one through the fast client and the daemon's entry socket", async () => {
    await b.startDaemon();
    const socket = path.join(b.stateDir, 'entry.sock');
    expect(b.log()).toContain(`daemon: answering SSH commands on ${socket}`);
    const viaEnv = corpus.filter((h) => !h.cmd.includes('\0'));
    const before = auditRefusals().length;
    expectAllRefused(viaEnv, await pool(viaEnv, 4, (h) => forcedCommand(b.configFile, 'eve', h.cmd, socket)));
    const eve = auditRefusals()
      .slice(before)
      .filter((e) => e.actor === 'eve');
    expect(eve.length).toBe(viaEnv.length);
  });

  it('refuses a sample through a real sshd and ssh client too', async () => {
    const keys = new ClientKeys(path.join(b.root, 'k'), ['mallory']);
    const sshd = new OpenSshServer(b.root, keys, b.configFile, ['mallory']);
    await sshd.start();
    try {
      const sample = corpus.filter((h, i) => !h.cmd.includes('\0') && (i % 12 === 0 || h.why === 'canary'));
      for (const h of sample) {
        const r = sshd.run('mallory', h.cmd);
        expect({ why: h.why, code: r.code === 0, lines: r.stderr.split('\n').length }).toEqual({
          why: h.why,
          code: false,
          lines: 2,
        });
      }
      expect(fs.existsSync(marker)).toBe(false);
      expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'))).toEqual([]);
    } finally {
      await sshd.stop();
    }
  });
});
