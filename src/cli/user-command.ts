import fs from 'node:fs';
import path from 'node:path';
import { PROJECT } from './project-dir.js';
import type { Config } from '../config/types.js';
import { AuditLog } from '../record/audit-log.js';
import { addUser, listUserKeys, removeUser, type UserKey } from '../server/user-keys.js';
import { authorizedKeysText, writeAuthorizedKeys } from '../server/authorized-keys-file.js';
import { errorLine, ExitCode, UsageError } from '../util/errors.js';

/**
 * The forced command of a principal's key: the small Perl client that hands the command to
 * the daemon's entry socket (falling back to Node itself for git and when no daemon listens),
 * with this very Node and config, so the line works whatever PATH sshd gives the account.
 */
export function forcedCommand(config: Config): (principal: string) => string {
  return (principal) =>
    [
      path.join(PROJECT, 'bin', 'pocketbuild-ssh'),
      '--node',
      process.execPath,
      '--config',
      config.file,
      '--socket',
      path.join(config.state_dir, 'entry.sock'),
      '--principal',
      principal,
    ].join(' ');
}

/**
 * Rewrite ssh.authorized_keys from the users, if the config names one; returns its path when it
 * changed, after telling `say`.
 */
export function refreshAuthorizedKeys(config: Config, say: (line: string) => void = () => {}): string | null {
  const file = config.ssh.authorized_keys;
  if (!file) return null;
  if (!writeAuthorizedKeys(file, authorizedKeysText(listUserKeys(config), forcedCommand(config)))) return null;
  say(`rewrote ${file} from the users`);
  return file;
}

function describe(k: UserKey): string {
  return `${k.type} ${k.fingerprint}${k.comment ? ` (${k.comment})` : ''}`;
}

/**
 * The key file, read by whoever ran the command: root's own files (/root/alice.pub) stay
 * readable although the rest runs as the state's owner.
 */
export function readKeyFile(file: string): { file: string; text: string } {
  try {
    return { file, text: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    throw new UsageError(`cannot read the key file ${file}: ${errorLine(e)}`);
  }
}

/** `user add NAME --key FILE.pub`, `user list`, `user remove NAME`. */
export async function runUser(
  config: Config,
  actor: string,
  rest: string[],
  o: { key?: { file: string; text: string }; json: boolean },
): Promise<number> {
  const audit = new AuditLog(config.state_dir);
  const out = (s: string) => process.stdout.write(s);
  const [sub, name, ...extra] = rest;
  if (sub === 'list' && name === undefined) {
    const keys = listUserKeys(config, (line) => process.stderr.write(`pocketbuild: ${line}\n`));
    if (o.json) out(JSON.stringify(keys.map(({ line: _line, ...k }) => k)) + '\n');
    else if (!keys.length) out('(no users; add one with: pocketbuild user add NAME --key FILE.pub)\n');
    else for (const k of keys) out(`${k.principal.padEnd(16)} ${describe(k)}  [${k.source}]\n`);
    return ExitCode.ok;
  }
  if (sub === 'add' && name !== undefined && !extra.length) {
    if (!o.key) throw new UsageError('user add needs --key FILE.pub, the public key the user logs in with');
    const added = await addUser(config, audit, actor, name, o.key.text, o.key.file);
    const changed = refreshAuthorizedKeys(config);
    if (o.json) out(JSON.stringify({ principal: name, added: added.map(({ line: _l, ...k }) => k) }) + '\n');
    else {
      if (!added.length) out(`${name} already logs in with that key; nothing changed\n`);
      for (const k of added) out(`${name} may log in as ${config.ssh.account}@HOST with ${describe(k)}\n`);
      if (changed) out(`rewrote ${changed}\n`);
    }
    return ExitCode.ok;
  }
  if (sub === 'remove' && name !== undefined && !extra.length) {
    const removed = await removeUser(config, audit, actor, name);
    const changed = refreshAuthorizedKeys(config);
    if (o.json) out(JSON.stringify({ principal: name, removed: removed.map(({ line: _l, ...k }) => k) }) + '\n');
    else {
      out(`${name} may no longer log in (${removed.length} key${removed.length === 1 ? '' : 's'} removed)\n`);
      if (changed) out(`rewrote ${changed}\n`);
    }
    return ExitCode.ok;
  }
  throw new UsageError('usage: pocketbuild user add NAME --key FILE.pub | user list | user remove NAME');
}
