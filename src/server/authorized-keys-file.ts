import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { PocketbuildError } from '../util/errors.js';
import type { UserKey } from './user-keys.js';

const HEADER =
  '# Written by pocketbuild from ssh.users and "pocketbuild user add"; it is rewritten whole\n' +
  '# by "pocketbuild user add/remove" and at daemon start, so edits here are lost.\n';

/**
 * OpenSSH's authorized_keys for the shared build account: each key forced to run pocketbuild
 * as its principal, with everything else (forwarding, a pty, X11, user rc) off by `restrict`.
 * `command(principal)` is the forced command; it is quoted for sshd, which refuses nothing
 * it cannot parse, so a path with a double quote is refused here instead.
 */
export function authorizedKeysText(keys: readonly UserKey[], command: (principal: string) => string): string {
  const lines = keys.map((k) => {
    const cmd = command(k.principal);
    if (/["\\\n]/.test(cmd))
      throw new PocketbuildError(
        'SetupFailed',
        `the forced command for ${k.principal} has a quote, backslash or newline (${cmd}); install pocketbuild under a plain path`,
      );
    return `restrict,command="${cmd}" ${k.line}`;
  });
  return HEADER + lines.map((l) => l + '\n').join('');
}

/**
 * Write the file whole (atomically: sshd reads it at every login, never half-written), 0600 in
 * a 0700 directory, as sshd's StrictModes wants. Returns whether it changed.
 */
export function writeAuthorizedKeys(file: string, text: string): boolean {
  try {
    if (fs.readFileSync(file, 'utf8') === text) return false;
  } catch {
    // not there yet
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, text, 0o600);
  return true;
}
