import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { CLI, runAs, testUser } from '../helpers/env.js';

/**
 * A request cancelled before any daemon took it ends the one way every request ends: its
 * result, then `build.finished` in the audit log, then the hooks with the outcome code.
 * Through the OpenSSH forced command, with no daemon running, so it stays queued.
 */
describe('cancelling a queued request', () => {
  let b: TestBuilder;
  let r: PackageRepo;

  beforeAll(() => {
    b = new TestBuilder('cancelq', { pockets: { stable: {} } });
    r = new PackageRepo(b.reposDir, 'pb-cancel');
  });
  afterAll(async () => {
    r?.cleanup();
    await b?.cleanup();
  });

  it('records it cancelled, audits it, then runs the hooks with BuildCancelled', () => {
    const seen = path.join(b.root, 'hooks-seen');
    runAs([
      'sh',
      '-c',
      'printf "%s\\n" "$1" > "$2" && chmod 755 "$2"',
      'sh',
      `#!/bin/sh\necho "$POCKETBUILD_EVENT $POCKETBUILD_STATUS $POCKETBUILD_CODE $(test -f "$POCKETBUILD_RECORD/result.json" && echo has-result)" >> ${seen}`,
      path.join(b.hooksDir, '10-record'),
    ]);
    const commit = r.commitVersion({ version: '1.0' });
    const id = b.submit('stable', 'pb-cancel', commit);
    const me = testUser().name;

    const cancel = runAs(['node', CLI, '--config', b.configFile, 'ssh', '--principal', me], {
      env: { SSH_ORIGINAL_COMMAND: `cancel ${id}` },
      allowFail: true,
    });
    expect(cancel.status, cancel.stderr).toBe(0);
    expect(fs.existsSync(path.join(b.root, 'queue', `${id}.json`))).toBe(false);

    const result = JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', id, 'result.json'), 'utf8'));
    expect(result).toMatchObject({
      id,
      status: 'cancelled',
      code: 'BuildCancelled',
      reason: `cancelled by ${me} before it started`,
    });

    const entries = fs
      .readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; build?: string; data: Record<string, unknown> });
    const mine = entries.filter((e) => e.build === id).map((e) => e.type);
    // The submission, the cancel, the end, the hook's run, then the SSH command's own entry: in that order.
    expect(mine).toEqual(['request.accepted', 'cancel', 'build.finished', 'hook', 'request.accepted']);
    expect(entries.filter((e) => e.build === id && e.type === 'request.accepted').map((e) => e.data.verb)).toEqual([
      'submit',
      'cancel',
    ]);
    expect(entries.find((e) => e.build === id && e.type === 'build.finished')!.data).toMatchObject({
      status: 'cancelled',
      code: 'BuildCancelled',
    });
    expect(fs.readFileSync(seen, 'utf8')).toContain('cancelled cancelled BuildCancelled has-result');

    // A second cancel finds it finished.
    const again = runAs(['node', CLI, '--config', b.configFile, 'ssh', '--principal', me], {
      env: { SSH_ORIGINAL_COMMAND: `cancel ${id}` },
      allowFail: true,
    });
    expect(again.status).toBe(5);
    expect(again.stderr).toContain('already finished (cancelled)');
  });
});
