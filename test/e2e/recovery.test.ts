import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { processesUnder, runAs, writeExecutable } from '../helpers/env.js';

/**
 * Hooks see every event with JSON on stdin and never change an outcome; junk in the queue is
 * moved aside; a daemon killed in the middle of a build leaves nothing running, and the
 * restarted daemon finishes the request exactly once.
 */
describe('hooks, quarantine and a daemon killed mid-build', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let seen: string;

  beforeAll(async () => {
    b = new TestBuilder('recovery', { pockets: { stable: {} }, claimStaleSeconds: 3 });
    seen = path.join(b.root, 'hooks-seen');
    const hook = (name: string, body: string) => writeExecutable(path.join(b.hooksDir, name), body);
    hook(
      '10-record',
      `#!/bin/sh\n{ echo "EVENT $POCKETBUILD_EVENT $POCKETBUILD_ID $POCKETBUILD_STATUS $POCKETBUILD_PACKAGE"; cat; } >> ${seen}\n`,
    );
    hook('20-fails', '#!/bin/sh\necho "hook failing on purpose" >&2\nexit 3\n');
    hook('30-hangs', '#!/bin/sh\nsleep 1000\n');
    hook('40-disabled.bak', '#!/bin/sh\ntouch /tmp/should-not-run\n');
    repo = new PackageRepo(b.reposDir, 'pb-recover');
  });

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  it('runs hooks with the event on stdin; failing and hanging hooks change nothing', async () => {
    fs.writeFileSync(path.join(b.root, 'queue', 'stray-file.txt'), 'not a request');
    await b.startDaemon();
    const commit = repo.commitVersion({ version: '1.0' });
    const id = b.submit('stable', 'pb-recover', commit);
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');

    const lines = fs.readFileSync(seen, 'utf8').split('\n');
    expect(lines).toContain(`EVENT submitted ${id} queued pb-recover`);
    expect(lines).toContain(`EVENT started ${id} running pb-recover`);
    expect(lines).toContain(`EVENT succeeded ${id} succeeded pb-recover`);
    const payload = JSON.parse(lines[lines.indexOf(`EVENT succeeded ${id} succeeded pb-recover`) + 1]!);
    expect(payload).toMatchObject({
      event: 'succeeded',
      request: { id, commit, pocket: 'stable' },
      result: { status: 'succeeded', version: '1.0' },
    });
    const log = b.buildLog(id);
    expect(log).toContain('hook 20-fails (succeeded): exited with status 3 (ignored');
    expect(log).toContain('hook 30-hangs (succeeded): killed by SIGTERM after the 5s limit');
    expect(log).not.toContain('40-disabled.bak');

    // The stray file was moved aside with its reason, and the daemon said so.
    const q = fs.readdirSync(path.join(b.root, 'queue', 'quarantine'));
    expect(q.some((n) => n.endsWith('stray-file.txt'))).toBe(true);
    expect(b.log()).toContain('queue: moved stray-file.txt to quarantine/: not a request file');
  });

  it('finishes a request exactly once after the daemon is SIGKILLed during its build', async () => {
    const commit = repo.commitVersion({ version: '2.0', buildCommands: ['sleep 20'] });
    const id = b.submit('stable', 'pb-recover', commit);
    // Wait until the build is inside the sandbox, then kill the daemon without warning.
    for (let i = 0; i < 1200 && !b.buildLog(id).includes('building as uid'); i++) await sleep(100);
    expect(b.buildLog(id)).toContain('building as uid');
    // Every process of the build mentions its work directory; none may outlive the daemon.
    // (While it runs, they are there to be found: the check below is not blind.)
    const work = path.join(b.stateDir, 'work');
    expect(processesUnder(work)).not.toEqual([]);
    await b.killDaemon();
    for (let i = 0; i < 100 && processesUnder(work).length; i++) await sleep(100);
    expect(processesUnder(work)).toEqual([]);
    expect(fs.existsSync(path.join(b.stateDir, 'builds', id, 'result.json'))).toBe(false);

    await b.startDaemon();
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    expect(b.published('stable')).toEqual(['pb-recover 2.0']);
    expect(b.git('pb-recover', ['rev-parse', 'refs/heads/stable'])).toBe(commit);
    const events = fs
      .readFileSync(seen, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`EVENT `) && l.includes(id));
    // "submitted" once, whichever daemon saw the request; "started" for each attempt.
    expect(events).toEqual([
      `EVENT submitted ${id} queued pb-recover`,
      `EVENT started ${id} running pb-recover`,
      `EVENT started ${id} running pb-recover`,
      `EVENT succeeded ${id} succeeded pb-recover`,
    ]);
    expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'))).toEqual([]);
  });

  it('after a crash between publishing and moving the refs, publishes nothing twice and only moves the refs', async () => {
    await b.stopDaemon();
    const commit = repo.commitVersion({ version: '3.0' });
    await b.startDaemon({ POCKETBUILD_FAULT: 'after:publish' });
    const id = b.submit('stable', 'pb-recover', commit);
    for (let i = 0; i < 1200 && !b.published('stable').includes('pb-recover 3.0'); i++) await sleep(100);
    await b.waitForDaemonExit();
    expect(b.published('stable')).toEqual(['pb-recover 3.0']);
    expect(b.git('pb-recover', ['rev-parse', 'refs/heads/stable'])).not.toBe(commit);

    await b.startDaemon();
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    expect(b.buildLog(id)).toContain(`resume: ${id} was already published (3.0); finishing the ref moves`);
    expect(res.stages.map((s) => s.name)).toEqual(['refs']);
    expect(res.outputs.map((o) => o.file)).toContain('pb-recover_3.0_all.deb');
    expect(b.git('pb-recover', ['rev-parse', 'refs/heads/stable'])).toBe(commit);
    expect(b.git('pb-recover', ['rev-parse', 'refs/tags/stable/3.0'])).toBe(commit);
  });

  it('publishes after a reprepro killed mid-publish left its database lock behind', async () => {
    runAs(['touch', path.join(b.stateDir, 'apt', 'db', 'lockfile')]);
    const commit = repo.commitVersion({ version: '4.0' });
    const id = b.submit('stable', 'pb-recover', commit);
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    expect(b.published('stable')).toEqual(['pb-recover 4.0']);
    expect(b.log()).toContain(
      `publish: removed ${path.join(b.stateDir, 'apt', 'db', 'lockfile')}, left by a reprepro that was killed`,
    );
  });

  it('ends a build it cannot record (audit log not writable) as failed, not stuck in the queue', async () => {
    await b.stopDaemon();
    const commit = repo.commitVersion({ version: '5.0' });
    const id = b.submit('stable', 'pb-recover', commit);
    const log = path.join(b.stateDir, 'audit.log');
    fs.chmodSync(log, 0o444); // the daemon's user cannot append any more
    try {
      await b.startDaemon();
      const res = await b.waitFor(id);
      expect(res.status).toBe('failed');
      expect(res.code).toBe('InternalError');
      expect(res.reason).toMatch(
        /^pocketbuild could not finish the build: EACCES: permission denied, open '.*audit\.log'/,
      );
      expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'))).toEqual([]);
      expect(b.log()).toContain(`build ${id}: internal error: EACCES`);
      expect(b.published('stable')).not.toContain('pb-recover 5.0');
    } finally {
      fs.chmodSync(log, 0o644);
    }
  });

  it('leaves an audit log that verifies, and audit verify names a tampered entry', () => {
    const ok = b.cli(['audit', 'verify']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^audit log OK: \d+ entries, chain head [0-9a-f]{64}\n$/);
    const lines = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"type":"publish"'));
    expect(i).toBeGreaterThan(0);
    lines[i] = lines[i]!.replace('"package":"pb-recover"', '"package":"pb-evil"');
    const tampered = path.join(b.root, 'tampered-audit.log');
    fs.writeFileSync(tampered, lines.join('\n'));
    const bad = b.cli(['audit', 'verify', tampered], true);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`audit log BROKEN at line ${i + 2} (seq ${i + 1}): prev does not match`);

    // Deleting, inserting (a copy of) and swapping entries of the same real log.
    const real = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').split('\n').slice(0, -1);
    const k = Math.floor(real.length / 2);
    const variants: Array<[string, string[], RegExp]> = [
      [
        'deleted',
        [...real.slice(0, k), ...real.slice(k + 1)],
        new RegExp(`^audit log BROKEN at line ${k + 1} \\(seq ${k + 1}\\): seq is ${k + 1}, expected ${k}`),
      ],
      [
        'inserted',
        [...real.slice(0, k), real[k - 1]!, ...real.slice(k)],
        new RegExp(`^audit log BROKEN at line ${k + 1} \\(seq ${k - 1}\\): seq is ${k - 1}, expected ${k}`),
      ],
      [
        'swapped',
        [...real.slice(0, k), real[k + 1]!, real[k]!, ...real.slice(k + 2)],
        new RegExp(`^audit log BROKEN at line ${k + 1} \\(seq ${k + 1}\\): seq is ${k + 1}, expected ${k}`),
      ],
    ];
    for (const [what, variant, expected] of variants) {
      fs.writeFileSync(tampered, variant.join('\n') + '\n');
      const r = b.cli(['audit', 'verify', tampered], true);
      expect(r.status, `${what}: ${r.stdout}`).toBe(1);
      expect(r.stdout, what).toMatch(expected);
    }
  });
});
