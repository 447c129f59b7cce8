/**
 * reprepro's signing hook (`SignWith: ! FILE` in conf/distributions): called for each suite it
 * exports, with the new Release (not yet visible to clients) and the InRelease and Release.gpg
 * to create. Adds the by-hash indices (./by-hash.ts) before signing, so the signatures cover
 * `Acquire-By-Hash: yes`, then signs with gpg as reprepro itself would have.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PocketbuildError } from '../util/errors.js';
import { runChecked } from '../util/run.js';
import { addByHash } from './by-hash.js';

/** The hook script's name in conf/ (reprepro looks for a relative `SignWith: !` name there). */
export const HOOK_NAME = 'pocketbuild-sign-release';

/** The executable reprepro runs: our CLI, with the fingerprint to sign with. */
export function hookScript(o: { node: string; cli: string; fingerprint: string }): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/sh',
    '# Written by pocketbuild at every daemon start; edits are lost. reprepro runs it to sign a',
    "# suite's Release; pocketbuild adds the by-hash indices first (README: APT over HTTP).",
    `exec ${q(o.node)} ${q(o.cli)} release-hook --key ${q(o.fingerprint)} -- "$@"`,
    '',
  ].join('\n');
}

/**
 * HTTP dates are whole seconds. A client that fetched an InRelease written in second S asks
 * next time with If-Modified-Since S, and any server (ours, nginx) answers 304 for a newer
 * InRelease written in that same second: the client would keep the old one until some later
 * publish. So a suite's new Release is signed in a later second than its current one; this
 * waits (under reprepro's lock, at most a second) until then.
 */
export async function signInALaterSecond(suiteDir: string): Promise<void> {
  const mtimes = ['InRelease', 'Release', 'Release.gpg'].map((f) => {
    try {
      return fs.statSync(path.join(suiteDir, f)).mtimeMs;
    } catch {
      return 0;
    }
  });
  // A small margin: file times come from the kernel's clock, which ticks coarser than Date.now().
  // Capped: a Release dated in the future (the clock was set back) is not worth waiting for.
  const wait = Math.min((Math.floor(Math.max(...mtimes) / 1000) + 1) * 1000 + 20 - Date.now(), 1100);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/**
 * The hook's work. `inRelease` and `releaseGpg` are empty when reprepro does not want that
 * file. GNUPGHOME comes from reprepro's environment, which is the publisher's.
 */
export async function signRelease(o: {
  release: string;
  inRelease: string;
  releaseGpg: string;
  fingerprint: string;
}): Promise<void> {
  if (!o.release || !fs.existsSync(o.release)) {
    throw new PocketbuildError(
      'PublishFailed',
      `release-hook: no Release file to sign at ${JSON.stringify(o.release)}`,
    );
  }
  const release = path.resolve(o.release);
  await signInALaterSecond(path.dirname(release));
  addByHash(release);
  // reprepro wrote it before the wait; its Last-Modified must be the new second too.
  const now = new Date();
  fs.utimesSync(release, now, now);
  const gpg = ['gpg', '--batch', '--yes', '--no-tty', '--local-user', o.fingerprint, '--digest-algo', 'SHA512'];
  if (o.inRelease) {
    await runChecked([...gpg, '--clearsign', '--output', o.inRelease, o.release], {
      timeoutMs: 60_000,
      what: 'gpg --clearsign',
    });
  }
  if (o.releaseGpg) {
    await runChecked([...gpg, '--armor', '--detach-sign', '--output', o.releaseGpg, o.release], {
      timeoutMs: 60_000,
      what: 'gpg --detach-sign',
    });
  }
}
