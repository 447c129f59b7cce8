import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { isRoot, privateAptOptions, runAs, sharedCacheDir, TEST_USER, testUser } from './env.js';

/**
 * Once per `npm test`: the unprivileged test user (when running as root, as CI does), the
 * shared cache it owns, and Debian's real `hello` source package. The base image is not made
 * here: the first daemon that needs it makes it under a lock and the others wait and share it.
 */
export default function setup(): void {
  if (isRoot()) {
    if (spawnSync('id', ['-u', TEST_USER]).status !== 0) {
      const r = spawnSync('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`useradd ${TEST_USER}: ${r.stderr}`);
    }
    for (const f of ['/etc/subuid', '/etc/subgid']) {
      if (
        !fs
          .readFileSync(f, 'utf8')
          .split('\n')
          .some((l) => l.startsWith(`${TEST_USER}:`))
      ) {
        throw new Error(`${TEST_USER} has no range in ${f}: install uidmap before creating the user, or add one`);
      }
    }
  }
  const cache = sharedCacheDir();
  fs.mkdirSync(cache, { recursive: true, mode: 0o755 });
  if (isRoot()) {
    const u = testUser();
    fs.chownSync(cache, u.uid, u.gid);
  }
  fetchHelloSource(path.join(cache, 'sources'));
}

/** `apt-get source --download-only hello` with a private apt config (deb-src), as the test user; kept in the cache. */
function fetchHelloSource(dir: string): void {
  if (fs.existsSync(path.join(dir, 'ready'))) return;
  const opts = privateAptOptions(dir, [
    'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main',
  ]);
  runAs(['apt-get', '-q', ...opts, 'update'], { timeoutMs: 300_000 });
  runAs(['apt-get', '-q', ...opts, 'source', '--download-only', 'hello=2.10-3'], { cwd: dir, timeoutMs: 300_000 });
  runAs(['touch', path.join(dir, 'ready')]);
}
