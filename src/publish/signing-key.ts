import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PocketbuildError } from '../util/errors.js';
import { runChecked } from '../util/run.js';

/** Where the builder's keys live; never visible inside a sandbox. */
export function gnupgHome(stateDir: string): string {
  return path.join(stateDir, 'gnupg');
}

function gpgEnv(stateDir: string): NodeJS.ProcessEnv {
  return { ...process.env, GNUPGHOME: gnupgHome(stateDir) };
}

const FPR_FILE = 'pocketbuild-signing-key';

/**
 * The fingerprint to sign with: the configured one, else the key `pocketbuild init` made.
 * Fails with what to do when there is none, so a daemon never publishes unsigned.
 */
export async function signingKey(stateDir: string, configured: string | null): Promise<string> {
  const env = gpgEnv(stateDir);
  const fpr = configured ?? readMadeKey(stateDir);
  if (!fpr) {
    throw new PocketbuildError(
      'NoSigningKey',
      `no signing key: run "pocketbuild init" to create one in ${gnupgHome(stateDir)}, or set signing.key to a fingerprint in that keyring.`,
    );
  }
  const r = await runChecked(['gpg', '--batch', '--with-colons', '--list-secret-keys', fpr], {
    env,
    timeoutMs: 30_000,
    what: 'gpg --list-secret-keys',
  }).catch(() => null);
  if (!r)
    throw new PocketbuildError(
      'NoSigningKey',
      `signing key ${fpr} has no secret key in ${gnupgHome(stateDir)}; import it there or run "pocketbuild init".`,
    );
  return fpr;
}

function readMadeKey(stateDir: string): string | null {
  try {
    return fs.readFileSync(path.join(gnupgHome(stateDir), FPR_FILE), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Make an Ed25519 signing key with no passphrase (the daemon signs unattended); returns its fingerprint. */
export async function createSigningKey(stateDir: string): Promise<string> {
  const existing = readMadeKey(stateDir);
  if (existing) return existing;
  const home = gnupgHome(stateDir);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  fs.chmodSync(home, 0o700);
  const env = gpgEnv(stateDir);
  const uid = `pocketbuild on ${os.hostname()} <pocketbuild@${os.hostname()}>`;
  await runChecked(
    [
      'gpg',
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--quick-gen-key',
      uid,
      'ed25519',
      'sign',
      'never',
    ],
    { env, timeoutMs: 60_000, what: 'gpg --quick-gen-key' },
  );
  const list = await runChecked(['gpg', '--batch', '--with-colons', '--list-secret-keys', uid], {
    env,
    timeoutMs: 30_000,
  });
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(list.stdout)?.[1];
  if (!fpr)
    throw new PocketbuildError('KeyCreationFailed', `gpg made a key but did not show its fingerprint; see ${home}.`);
  fs.writeFileSync(path.join(home, FPR_FILE), fpr + '\n');
  return fpr;
}

/** Write the public key where APT clients get it: `key.gpg` (binary, for signed-by) and `key.asc`. */
export async function exportPublicKey(stateDir: string, fpr: string, destDir: string): Promise<string> {
  const env = gpgEnv(stateDir);
  fs.mkdirSync(destDir, { recursive: true });
  const bin = path.join(destDir, 'key.gpg');
  await runChecked(['gpg', '--batch', '--yes', '--output', bin, '--export', fpr], {
    env,
    timeoutMs: 30_000,
    what: 'gpg --export',
  });
  await runChecked(['gpg', '--batch', '--yes', '--armor', '--output', path.join(destDir, 'key.asc'), '--export', fpr], {
    env,
    timeoutMs: 30_000,
    what: 'gpg --export',
  });
  // gpg writes 0600; APT reads keys as its unprivileged _apt user, and this key is public anyway.
  for (const f of [bin, path.join(destDir, 'key.asc')]) fs.chmodSync(f, 0o644);
  return bin;
}

/** Stop the gpg-agent this state dir started (tests, and `pocketbuild daemon` on exit). */
export async function stopAgent(stateDir: string): Promise<void> {
  await runChecked(['gpgconf', '--kill', 'all'], { env: gpgEnv(stateDir), timeoutMs: 10_000 }).catch(() => {});
}
