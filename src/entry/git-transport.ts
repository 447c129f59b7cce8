import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Config } from '../config/types.js';
import type { SessionIO } from './session-io.js';
import { UnknownPackage } from '../util/errors.js';

/** A push or fetch may legitimately take long (big packs over slow links), but not forever. */
const GIT_TIMEOUT_MS = 2 * 60 * 60_000;

/**
 * Serve `git push` / `git fetch` for one package repository over the session's streams.
 * The principal travels to the repository's hooks in POCKETBUILD_PRINCIPAL (they refuse
 * pocket refs and queue auto builds). The path is built from a checked package name, never
 * from what the client sent.
 */
export function serveGit(
  config: Config,
  verb: 'git-receive-pack' | 'git-upload-pack',
  pkg: string,
  principal: string,
  io: SessionIO,
  signal?: AbortSignal,
): Promise<number> {
  const gitdir = path.join(config.repos_dir, `${pkg}.git`);
  if (!fs.existsSync(gitdir)) throw new UnknownPackage(pkg);
  const sub = verb === 'git-receive-pack' ? 'receive-pack' : 'upload-pack';
  return new Promise((resolve) => {
    // safe.directory: the repositories belong to the service user, but a test or an admin
    // may run this as another uid; the path is ours, not the client's.
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'KILL', '--', 'git', '-c', `safe.directory=${gitdir}`, sub, gitdir],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/',
          LANG: 'C.UTF-8',
          POCKETBUILD_PRINCIPAL: principal,
          POCKETBUILD_CONFIG: config.file,
          GIT_PROTOCOL: process.env.GIT_PROTOCOL ?? '',
        },
        detached: true,
      },
    );
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(kill, GIT_TIMEOUT_MS);
    signal?.addEventListener('abort', kill, { once: true });
    io.stdin.pipe(child.stdin);
    child.stdin.on('error', () => {});
    child.stdout.pipe(io.stdout, { end: false });
    child.stderr.pipe(io.stderr, { end: false });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      io.stdin.unpipe(child.stdin);
      resolve(code ?? 1);
    });
  });
}
