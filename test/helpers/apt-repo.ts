import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { AptRepository } from '../../src/publish/reprepro.js';
import { createSigningKey, exportPublicKey, stopAgent } from '../../src/publish/signing-key.js';
import type { PocketConfig } from '../../src/config/types.js';
import { fileWriter } from './packages.js';

/** Run a program (argv, bounded in time); throws with its output when it fails. */
function must(argv: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    env: { ...process.env, LANG: 'C.UTF-8' },
  });
  if (r.status !== 0)
    throw new Error(`${argv.join(' ')} ${r.error?.message ?? `exited ${r.status ?? r.signal}`}: ${r.stderr}`);
  return r.stdout;
}

export interface MadeChanges {
  changes: string;
  deb: string;
}

/**
 * A binary-only upload of an `Architecture: all` package, made without a build: the .deb
 * straight from dpkg-deb (with `payloadBytes` of random, incompressible data in
 * /usr/share/NAME/payload when asked) and its .changes from dpkg-genchanges.
 */
export function makeChanges(
  dir: string,
  p: { name: string; version: string; payloadBytes?: number; greeting?: string },
): MadeChanges {
  const work = path.join(dir, `${p.name}-${p.version}`);
  const w = fileWriter(work);
  w(
    'debian/control',
    [
      `Source: ${p.name}`,
      'Section: misc',
      'Priority: optional',
      'Maintainer: Pocket Tester <tester@localhost>',
      '',
      `Package: ${p.name}`,
      'Architecture: all',
      `Description: pocketbuild test package ${p.name}`,
      ' Made by the test suite.',
      '',
    ].join('\n'),
  );
  w(
    'debian/changelog',
    `${p.name} (${p.version}) unstable; urgency=medium\n\n  * Test release ${p.version}.\n\n -- Pocket Tester <tester@localhost>  Sat, 21 Nov 2026 12:00:00 +0000\n`,
  );
  const root = path.join(work, 'debian', 'tmp');
  w(`debian/tmp/usr/bin/${p.name}`, `#!/bin/sh\necho "${p.greeting ?? `hello from ${p.name} ${p.version}`}"\n`, 0o755);
  if (p.payloadBytes) {
    const payload = path.join(root, 'usr', 'share', p.name, 'payload');
    fs.mkdirSync(path.dirname(payload), { recursive: true });
    const fd = fs.openSync(payload, 'w');
    for (let left = p.payloadBytes; left > 0; left -= 1 << 20) fs.writeSync(fd, randomBytes(Math.min(left, 1 << 20)));
    fs.closeSync(fd);
  }
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  must(['dpkg-gencontrol', `-p${p.name}`, '-Pdebian/tmp'], { cwd: work });
  const deb = path.join(dir, `${p.name}_${p.version}_all.deb`);
  // Random data does not compress: gzip at its fastest only wraps it.
  must(['dpkg-deb', '--root-owner-group', '-Zgzip', '-z1', '--build', root, deb], { cwd: work, timeoutMs: 300_000 });
  const changes = path.join(dir, `${p.name}_${p.version}_all.changes`);
  must(['dpkg-genchanges', '-b', `-O${changes}`, `-u${dir}`], { cwd: work });
  fs.rmSync(work, { recursive: true, force: true });
  return { changes, deb };
}

/**
 * A real published repository in `stateDir`, as the daemon keeps it: a signing key, reprepro
 * with our signing hook (so by-hash), one suite per pocket. Run by the current user.
 */
export async function makePublishedRepo(
  stateDir: string,
  suites: string[],
): Promise<{ repo: AptRepository; keyFile: string; stop: () => Promise<void> }> {
  fs.mkdirSync(stateDir, { recursive: true });
  const fpr = await createSigningKey(stateDir);
  const repo = AptRepository.forStateDir(stateDir);
  const keyFile = await exportPublicKey(stateDir, fpr, repo.dir);
  const pockets: PocketConfig[] = suites.map((s) => ({
    name: s,
    suite: s,
    distribution: 'bookworm',
    acl: ['*'],
    allow_backtracking: true,
    promote_from: [],
    architectures: ['amd64'],
    sandbox: 'userns',
    deb_build_options: '',
    notify: [],
  }));
  await repo.configure(pockets, fpr);
  return { repo, keyFile, stop: () => stopAgent(stateDir) };
}
