import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import type { TestBuilder } from './builder.js';
import { sleep } from './builder.js';
import { tempDirForTestUser, testUserEnv } from './env.js';
import { writeNativePackage } from './packages.js';
import type { SshTarget } from './ssh.js';

/** Config for the SSH scenario: who may do what. */
export const SSH_PRINCIPALS = ['alice', 'bob', 'mallory'];
export const SSH_POCKETS = {
  stable: { acl: ['group:release'] },
  dev: { acl: ['*'], allow_backtracking: true },
};
export function sshExtraYaml(keys: Record<string, string>, port: number): string {
  return [
    'groups:',
    '  release: [alice]',
    'admins: [bob]',
    'repo_defaults:',
    '  push: [alice]',
    "  read: ['*']",
    'auto_build:',
    "  - {branch: main, pocket: dev, package: '*'}",
    'ssh:',
    '  listen: 127.0.0.1',
    `  port: ${port}`,
    '  users:',
    ...Object.entries(keys).map(([p, k]) => `    ${p}: [${JSON.stringify(k)}]`),
  ].join('\n');
}

function git(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync('git', args, {
    cwd: opts.cwd,
    env: { ...testUserEnv(), ...opts.env },
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ID = /\b([0-9a-hjkmnp-tv-z]{16})\b/;

/**
 * The acceptance scenario of the SSH issue, identical for OpenSSH's forced command and the
 * embedded server: real `ssh` and `git` clients against a real daemon.
 */
export async function sshScenario(b: TestBuilder, t: SshTarget): Promise<void> {
  const pkg = 'pb-ssh';
  // whoami, help
  const who = t.run('alice', 'whoami');
  expect(who.code, who.stderr).toBe(0);
  expect(who.stdout).toContain('alice');
  expect(who.stdout).toMatch(/may build into: stable, dev/);
  expect(t.run('alice', 'help').stdout).toContain('submit POCKET PACKAGE COMMIT');
  expect(t.run('alice', 'help log')).toEqual({
    code: 0,
    stdout: 'usage: log ID [--follow]\n  the build log; --follow keeps printing while it runs\n',
    stderr: '',
  });

  // A package repository with pocketbuild's hooks, pushed to over SSH by alice.
  expect(b.cli(['repo', 'create', pkg]).status).toBe(0);
  const work = tempDirForTestUser('ssh-work');
  git(['init', '-q', '-b', 'main', work]);
  writeNativePackage(work, { name: pkg, version: '1.0' });
  git(['-C', work, 'add', '-A']);
  git(['-C', work, 'commit', '-qm', 'v1.0']);
  const c1 = git(['-C', work, 'rev-parse', 'HEAD']).stdout.trim();
  const alice = t.git('alice', pkg);
  const push = git(['-C', work, 'push', alice.url, 'main'], { env: alice.env });
  expect(push.code, push.stderr).toBe(0);
  // The auto_build rule (main → dev) queued a build and said so in the push output.
  const queuedId = ID.exec(push.stderr.split('\n').find((l) => l.includes('pocketbuild: queued')) ?? '')?.[1];
  expect(queuedId, push.stderr).toBeDefined();
  const auto = await b.waitFor(queuedId!);
  expect(auto.status, b.buildLog(queuedId!)).toBe('succeeded');
  expect(b.published('dev')).toContain(`${pkg} 1.0`);
  const autoReq = JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', queuedId!, 'request.json'), 'utf8'));
  expect(autoReq).toMatchObject({ principal: 'alice', origin: 'push', commit: c1, pocket: 'dev' });

  // submit over ssh, then follow the log until the build ends.
  const sub = t.run('alice', `submit stable ${pkg} ${c1.slice(0, 8)}`);
  expect(sub.code, sub.stderr).toBe(0);
  const id = sub.stdout.trim();
  expect(id).toMatch(ID);
  const follow = t.run('alice', `log ${id} --follow`);
  expect(follow.code, follow.stderr).toBe(0);
  expect(follow.stdout).toContain('==> publish');
  expect(follow.stdout).toContain(`refs: tag stable/1.0`);
  expect(fs.existsSync(path.join(b.stateDir, 'builds', id, 'result.json'))).toBe(true);
  const st = t.run('alice', `status ${id} --json`);
  expect(JSON.parse(st.stdout)).toMatchObject({ id, status: 'succeeded', principal: 'alice' });

  // Refusals: one line on stderr, the documented exit code, nothing queued.
  const queueFiles = () => fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'));
  const denied = t.run('mallory', `submit stable ${pkg} main`);
  expect(denied.code).toBe(3);
  expect(denied.stderr).toMatch(/^pocketbuild: mallory may not build into stable[^\n]*\n$/);
  // An unknown pocket or package: exit 4 and the codes a build would end with, not the ACL's
  // refusal; the message names no server path.
  const unknown = t.run('alice', 'submit dev pb-nope main');
  expect(unknown.code).toBe(4);
  expect(unknown.stderr).toBe(
    'pocketbuild: unknown package pb-nope: there is no repository pb-nope.git on this builder; ask an admin to run "pocketbuild repo create pb-nope", then push to it.\n',
  );
  const noPocket = t.run('alice', `submit staging ${pkg} main`);
  expect(noPocket.code).toBe(4);
  expect(noPocket.stderr).toBe('pocketbuild: unknown pocket staging (known: stable, dev).\n');
  const nopeGit = t.git('alice', 'pb-nope');
  const nopeFetch = git(['ls-remote', nopeGit.url], { env: nopeGit.env });
  expect(nopeFetch.code).not.toBe(0);
  expect(nopeFetch.stderr).toContain('pocketbuild: unknown package pb-nope: there is no repository pb-nope.git');
  expect(nopeFetch.stderr).not.toContain(b.root);
  expect(queueFiles()).toEqual([]);

  // cancel: a slow build, running; mallory may not cancel it, alice may.
  writeNativePackage(work, { name: pkg, version: '2.0', buildCommands: ['sleep 120'] });
  git(['-C', work, 'checkout', '-qb', 'slow']);
  git(['-C', work, 'commit', '-qam', 'slow 2.0']);
  expect(git(['-C', work, 'push', alice.url, 'slow'], { env: alice.env }).code).toBe(0);
  const slow = t.run('alice', `submit dev ${pkg} slow`).stdout.trim();
  expect(slow).toMatch(ID);
  for (let i = 0; i < 3000 && !b.buildLog(slow).includes('building as uid'); i++) await sleep(100);
  expect(b.buildLog(slow), 'the slow build is running').toContain('building as uid');
  const nope = t.run('mallory', `cancel ${slow}`);
  expect(nope.code).toBe(3);
  expect(nope.stderr).toMatch(/^pocketbuild: mallory may not cancel/);
  const cancel = t.run('alice', `cancel ${slow}`);
  expect(cancel.code, cancel.stderr).toBe(0);
  const cancelled = await b.waitFor(slow, 120_000);
  expect(cancelled.status).toBe('cancelled');
  expect(cancelled.reason).toContain('cancelled by alice');
  expect(b.published('dev')).toContain(`${pkg} 1.0`);

  // The pocket branch can only be moved by the builder; mallory may not push at all.
  const toPocket = git(['-C', work, 'push', alice.url, 'slow:stable'], { env: alice.env });
  expect(toPocket.code).not.toBe(0);
  expect(toPocket.stderr).toContain('refusing to update refs/heads/stable');
  expect(b.git(pkg, ['rev-parse', 'refs/heads/stable'])).toBe(c1);
  const m = t.git('mallory', pkg);
  const mallory = git(['-C', work, 'push', m.url, 'slow:mallory'], { env: m.env });
  expect(mallory.code).not.toBe(0);
  expect(mallory.stderr).toContain('mallory may not push to pb-ssh');

  // Readers can clone; the clone has the pocket branch the builder moved.
  const bobGit = t.git('bob', pkg);
  const dest = path.join(tempDirForTestUser('clone'), 'c');
  const clone = git(['clone', '-q', bobGit.url, dest], { env: bobGit.env });
  expect(clone.code, clone.stderr).toBe(0);
  expect(git(['-C', dest, 'rev-parse', 'origin/stable']).stdout.trim()).toBe(c1);

  // The audit log holds the refusals with the raw command and the principal.
  const audit = fs
    .readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(
    audit.some(
      (e) => e.type === 'request.refused' && e.actor === 'mallory' && e.data.raw === `submit stable ${pkg} main`,
    ),
  ).toBe(true);
  expect(audit.some((e) => e.type === 'git.push.refused' && e.actor === 'alice')).toBe(true);

  // A request has one shape whichever way it came in, and every refusal has its outcome code.
  const request = (type: string, build: string) => audit.find((e) => e.type === type && e.build === build)?.data;
  expect(request('request.accepted', queuedId!)).toEqual({
    origin: 'push',
    verb: 'submit',
    pocket: 'dev',
    package: pkg,
    commit: c1,
    branch: 'main',
  });
  expect(request('request.accepted', id)).toEqual({
    origin: 'ssh',
    verb: 'submit',
    raw: `submit stable ${pkg} ${c1.slice(0, 8)}`,
    transport: expect.stringMatching(/^(openssh|embedded)$/),
    pocket: 'stable',
    package: pkg,
    commit: c1,
  });
  expect(
    audit.find((e) => e.type === 'request.refused' && e.actor === 'mallory' && e.data.verb === 'submit')?.data,
  ).toMatchObject({ origin: 'ssh', pocket: 'stable', package: pkg, code: 'AccessDenied' });
  const refusals = audit.filter((e) => e.type === 'request.refused' || e.type === 'git.push.refused');
  expect(refusals.filter((e) => !/^[A-Z][A-Za-z]+$/.test(e.data.code ?? '')).map((e) => e.data)).toEqual([]);
  expect(audit.find((e) => e.type === 'git.push.refused')?.data.code).toBe('AccessDenied');
  const refusedCode = (raw: RegExp) =>
    audit.find((e) => e.type === 'request.refused' && e.actor === 'alice' && raw.test(e.data.raw))?.data.code;
  expect([/^submit dev pb-nope main$/, /^submit staging /, /^git-upload-pack .*pb-nope/].map(refusedCode)).toEqual([
    'UnknownPackage',
    'UnknownPocket',
    'UnknownPackage',
  ]);

  // The local CLI is the same implementation: the same output and exit codes for every verb
  // (the builder's own terminal also sees where a log is; SSH users never do).
  const local = (cmd: string) => {
    const r = b.cli(cmd.split(' '), true);
    return { code: r.status, stdout: r.stdout.replace(/^ {2}log: \/.*\n/m, ''), stderr: r.stderr };
  };
  const noLogPath = (shown: string) => {
    const { log, ...rest } = JSON.parse(shown) as { log?: string };
    expect(log).toMatch(/^\/.*build\.log$/);
    return rest;
  };
  for (const cmd of [
    `status ${id}`,
    `status ${id} --json`,
    `history ${pkg}`,
    `history --json`,
    'queue --json',
    `log ${id}`,
    `cancel ${id}`,
    `cancel ${id} --json`,
    'status 0000000000000000',
    'status Nope',
    'submit staging pb-ssh main',
    `submit dev ${pkg} no-such-branch`,
    'log',
  ]) {
    const remote = t.run('bob', cmd);
    expect(local(cmd), cmd).toEqual({ code: remote.code, stdout: remote.stdout, stderr: remote.stderr });
  }
  const shown = t.run('bob', `show ${id} --json`);
  expect(shown.stdout).not.toContain(b.root);
  expect(noLogPath(local(`show ${id} --json`).stdout)).toEqual(JSON.parse(shown.stdout));
}
