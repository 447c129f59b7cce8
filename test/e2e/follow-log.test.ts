import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { CLI, runAs, writeExecutable } from '../helpers/env.js';

/**
 * `log ID --follow` (through the OpenSSH forced command, as a user runs it) prints the whole
 * log, the end's hooks included: those run after result.json is written, so following until
 * the result exists lost them (three times out of three before the fix).
 */
describe('log --follow', () => {
  let b: TestBuilder;
  let repo: PackageRepo;

  beforeAll(async () => {
    b = new TestBuilder('follow-log', { pockets: { stable: {} } });
    writeExecutable(
      path.join(b.hooksDir, '50-late'),
      '#!/bin/sh\nsleep 1\necho "late hook line for $POCKETBUILD_EVENT"\n',
    );
    repo = new PackageRepo(b.reposDir, 'pb-follow');
    await b.startDaemon();
  });

  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  it.each(['1.0', '2.0'])('prints the hooks of the end too (version %s)', async (version) => {
    const id = b.submit('stable', 'pb-follow', repo.commitVersion({ version }));
    const r = runAs(['node', CLI, '--config', b.configFile, 'ssh', '--principal', 'alice'], {
      env: { SSH_ORIGINAL_COMMAND: `log ${id} --follow` },
      timeoutMs: 600_000,
    });
    await b.waitFor(id);
    const whole = fs.readFileSync(path.join(b.stateDir, 'builds', id, 'build.log'), 'utf8');
    expect(whole).toContain('late hook line for succeeded');
    expect(r.stdout).toBe(whole);
  });
});
