import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The checkout: the nearest directory upwards with our package.json (this file also runs compiled, from dist-bench/). */
export const PROJECT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the pocketbuild checkout');
    dir = up;
  }
  return dir;
})();
export const CLI = path.join(PROJECT, 'dist', 'cli', 'main.js');

/** The unprivileged account builds run as when the tests run as root (CI); otherwise the current user. */
export const TEST_USER = 'pbtest';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function testUser(): { name: string; uid: number; gid: number; home: string } {
  if (!isRoot()) {
    const u = os.userInfo();
    return { name: u.username, uid: u.uid, gid: u.gid, home: u.homedir };
  }
  const r = spawnSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' });
  const f = r.stdout.trim().split(':');
  if (r.status !== 0 || f.length < 6) throw new Error(`test user ${TEST_USER} is missing; global-setup makes it`);
  return { name: TEST_USER, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
}

/** argv prefixed so that it runs as the test user (no-op when not root). */
export function asTestUser(argv: string[]): string[] {
  if (!isRoot()) return argv;
  return ['setpriv', '--reuid', TEST_USER, '--regid', TEST_USER, '--init-groups', '--', ...argv];
}

export function testUserEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const u = testUser();
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: u.home,
    USER: u.name,
    LOGNAME: u.name,
    LANG: 'C.UTF-8',
    GIT_AUTHOR_NAME: 'Pocket Tester',
    GIT_AUTHOR_EMAIL: 'tester@localhost',
    GIT_COMMITTER_NAME: 'Pocket Tester',
    GIT_COMMITTER_EMAIL: 'tester@localhost',
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'safe.directory',
    GIT_CONFIG_VALUE_0: '*',
    ...extra,
  };
}

/** Run a command as the test user; throws with its output when it fails. */
export function runAs(
  argv: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; allowFail?: boolean } = {},
): SpawnSyncReturns<string> {
  const full = asTestUser(argv);
  const r = spawnSync(full[0]!, full.slice(1), {
    cwd: opts.cwd,
    env: testUserEnv(opts.env),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (!opts.allowFail && r.status !== 0) {
    throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** Write an executable script (a hook, a tool shim) as the test user, who must be able to run it. */
export function writeExecutable(file: string, body: string): void {
  runAs(['sh', '-c', 'printf "%s\\n" "$2" > "$1" && chmod 755 "$1"', 'sh', file, body]);
}

/** Processes whose command line mentions `root` (a test's private directory: its builds' sandboxes, its hooks). */
export function processesUnder(root: string): string[] {
  const r = spawnSync('pgrep', ['-a', '-f', root], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l && !l.includes('pgrep'));
}

/** A fresh directory owned by the test user, removed by the returned cleanup. */
/** Every directory tempDirForTestUser made in this test file, removed after it (temp-cleanup.ts). */
const madeDirs = new Set<string>();

/** Remove what tempDirForTestUser made, unless POCKETBUILD_KEEP_TEST_DIRS asks to keep it. */
export function removeTempDirs(): void {
  if (process.env.POCKETBUILD_KEEP_TEST_DIRS) return;
  for (const dir of madeDirs) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  madeDirs.clear();
}

export function tempDirForTestUser(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pocketbuild-${prefix}-`));
  madeDirs.add(dir);
  if (isRoot()) {
    const u = testUser();
    fs.chownSync(dir, u.uid, u.gid);
  }
  return dir;
}

/** Shared across test files and runs: base images, apt caches, downloaded sources. Deletable. */
export function sharedCacheDir(): string {
  return process.env.POCKETBUILD_TEST_CACHE ?? path.join(os.tmpdir(), 'pocketbuild-test-cache');
}

/**
 * apt options for a private configuration in `dir` (owned by the test user): its own lists,
 * cache and sources.list with `sources` (one-line style), no locking, no _apt sandbox, no
 * dpkg status. The host's apt state is never touched.
 */
export function privateAptOptions(dir: string, sources: string[], extra: string[] = []): string[] {
  runAs(['mkdir', '-p', `${dir}/lists/partial`, `${dir}/archives/partial`, `${dir}/parts`]);
  runAs(['sh', '-c', 'printf "%s\\n" "$1" > "$2"', 'sh', sources.join('\n'), `${dir}/sources.list`]);
  return [
    '-o',
    `Dir::State=${dir}`,
    '-o',
    `Dir::State::lists=${dir}/lists`,
    '-o',
    'Dir::State::status=/dev/null',
    '-o',
    `Dir::Cache=${dir}`,
    '-o',
    `Dir::Cache::archives=${dir}/archives`,
    '-o',
    `Dir::Etc::SourceList=${dir}/sources.list`,
    '-o',
    `Dir::Etc::SourceParts=${dir}/parts`,
    '-o',
    'Debug::NoLocking=true',
    '-o',
    'APT::Sandbox::User=',
    '-o',
    'Acquire::Languages=none',
    ...extra,
  ];
}
