import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { CLI, runAs, testUser } from '../helpers/env.js';

/**
 * A request cancelled before any daemon took it ends the one way every request ends, in the
 * daemon: its result, then `build.finished` in the audit log, then the hooks with the outcome
 * code. The cancel itself (through the OpenSSH forced command) only records the wish: with no
 * daemon running the request stays queued; a daemon whose only slot is busy ends it at once
 * without building it, while the other build goes on.
 */
describe('cancelling a queued request', () => {
  let b: TestBuilder;
  let r: PackageRepo;
  let slow: PackageRepo;

  beforeAll(() => {
    b = new TestBuilder('cancelq', { pockets: { stable: {} }, slots: 1 });
    r = new PackageRepo(b.reposDir, 'pb-cancel');
    slow = new PackageRepo(b.reposDir, 'pb-cancel-slow');
  });
  afterAll(async () => {
    r?.cleanup();
    slow?.cleanup();
    await b?.cleanup();
  });

  it('records the wish, then the daemon ends it cancelled outside the slots: result, audit, hooks', async () => {
    const seen = path.join(b.root, 'hooks-seen');
    runAs([
      'sh',
      '-c',
      'printf "%s\\n" "$1" > "$2" && chmod 755 "$2"',
      'sh',
      `#!/bin/sh\necho "$POCKETBUILD_EVENT $POCKETBUILD_STATUS $POCKETBUILD_CODE $(test -f "$POCKETBUILD_RECORD/result.json" && echo has-result)" >> ${seen}`,
      path.join(b.hooksDir, '10-record'),
    ]);
    const busy = b.submit(
      'stable',
      'pb-cancel-slow',
      slow.commitVersion({ version: '1.0', buildCommands: ['sleep 600'] }),
    );
    const id = b.submit('stable', 'pb-cancel', r.commitVersion({ version: '1.0' }));
    const me = testUser().name;
    const ssh = (cmd: string) =>
      runAs(['node', CLI, '--config', b.configFile, 'ssh', '--principal', me], {
        env: { SSH_ORIGINAL_COMMAND: cmd },
        allowFail: true,
      });

    const cancel = ssh(`cancel ${id}`);
    expect(cancel.status, cancel.stderr).toBe(0);
    expect(cancel.stdout).toBe(`${id} will not be built; the daemon records it cancelled\n`);
    // No daemon yet: nothing has ended it, and it is still in the queue.
    expect(fs.existsSync(path.join(b.root, 'queue', `${id}.json`))).toBe(true);
    expect(fs.existsSync(path.join(b.stateDir, 'builds', id, 'result.json'))).toBe(false);

    await b.startDaemon();
    for (let i = 0; i < 3000 && !b.buildLog(busy).includes('building as uid'); i++) await sleep(100);
    const result = await b.waitFor(id, 120_000);
    expect(result).toMatchObject({
      id,
      status: 'cancelled',
      code: 'BuildCancelled',
      reason: `cancelled by ${me} before it started`,
    });
    expect(fs.existsSync(path.join(b.root, 'queue', `${id}.json`))).toBe(false);
    expect(fs.existsSync(path.join(b.root, 'queue', 'cancel', id))).toBe(false);
    // The slow build held the only slot the whole time.
    expect(fs.existsSync(path.join(b.stateDir, 'builds', busy, 'result.json'))).toBe(false);
    expect(b.buildLog(busy)).toContain('building as uid');

    const entries = fs
      .readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; build?: string; data: Record<string, unknown> });
    const mine = entries.filter((e) => e.build === id).map((e) => e.type);
    // Accepted, the cancel and the SSH command's own entry; then, in the daemon, the `submitted` hook, the end
    // and the `cancelled` hook. Never claimed, never started.
    expect(mine).toEqual(['request.accepted', 'cancel', 'request.accepted', 'hook', 'build.finished', 'hook']);
    expect(entries.find((e) => e.build === id && e.type === 'cancel')!.data).toEqual({ state: 'queued' });
    expect(entries.filter((e) => e.build === id && e.type === 'request.accepted').map((e) => e.data.verb)).toEqual([
      'submit',
      'cancel',
    ]);
    expect(entries.find((e) => e.build === id && e.type === 'build.finished')!.data).toMatchObject({
      status: 'cancelled',
      code: 'BuildCancelled',
    });
    const hookLines = fs.readFileSync(seen, 'utf8').split('\n');
    expect(hookLines).toContain('cancelled cancelled BuildCancelled has-result');
    expect(hookLines.filter((l) => l.startsWith('started'))).toHaveLength(1); // the slow build's only

    // A second cancel finds it finished.
    const again = ssh(`cancel ${id}`);
    expect(again.status).toBe(5);
    expect(again.stderr).toContain('already finished (cancelled)');

    // The running one: the daemon stops it.
    const stop = ssh(`cancel ${busy}`);
    expect(
      stop.status,
      stop.stderr +
        (fs.existsSync(path.join(b.stateDir, 'log/entry.log'))
          ? fs.readFileSync(path.join(b.stateDir, 'log/entry.log'), 'utf8')
          : ''),
    ).toBe(0);
    expect(stop.stdout).toBe(`${busy} is running; its daemon is stopping it\n`);
    expect(await b.waitFor(busy, 120_000)).toMatchObject({ status: 'cancelled', code: 'BuildCancelled' });
  });
});
