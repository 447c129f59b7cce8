import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import type { AuditLog } from '../record/audit-log.js';
import { checkField } from '../queue/request.js';
import { ConflictError, NotFoundError, UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { parseSshKey, sshFingerprint } from './ssh-host-key.js';
import { SUPPORTED_KEY_TYPES } from './ssh-authorized-keys.js';

/**
 * Who may log in: the principals under ssh.users in the config, and those `pocketbuild user
 * add` registered, one file per principal in <state_dir>/users/NAME.pub holding OpenSSH public
 * key lines. The files are read at each login, so admitting or removing a key needs neither an
 * edit of the YAML nor a restart; the config's list stays the operator's, changed by editing it.
 */
export interface UserKey {
  principal: string;
  type: string;
  fingerprint: string;
  comment: string;
  /** The public key line as given (type, base64, comment). */
  line: string;
  source: 'config' | 'user add';
}

export function usersDir(config: Config): string {
  return path.join(config.state_dir, 'users');
}

function userFile(config: Config, principal: string): string {
  return path.join(usersDir(config), `${principal}.pub`);
}

/** One public key line, checked whole; `where` names it in the error. */
function parseKeyLine(line: string, where: string): Omit<UserKey, 'principal' | 'source'> {
  const [type = '', data = '', ...comment] = line.trim().split(/\s+/);
  if (/PRIVATE KEY/.test(line))
    throw new UsageError(`${where} is a private key; give the public one (the .pub file beside it)`);
  if (!SUPPORTED_KEY_TYPES.has(type))
    throw new UsageError(
      `${where} is not an OpenSSH public key line of a type the server can check (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521)`,
    );
  const parsed = parseSshKey(`${type} ${data}`);
  if (parsed instanceof Error || parsed.isPrivateKey())
    throw new UsageError(`${where}: the ${type} key data does not parse; copy the line from the .pub file again`);
  return {
    type,
    fingerprint: sshFingerprint(parsed.getPublicSSH()),
    comment: comment.join(' '),
    line: [type, data, ...comment].join(' '),
  };
}

function keyLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Every key that may log in, the config's first. A registered file that no longer parses is skipped with a warning. */
export function listUserKeys(config: Config, warn: (line: string) => void = () => {}): UserKey[] {
  const out: UserKey[] = [];
  for (const [principal, lines] of Object.entries(config.ssh.users))
    lines.forEach((l, i) =>
      out.push({ principal, source: 'config', ...parseKeyLine(l, `ssh.users.${principal}[${i}]`) }),
    );
  let names: string[] = [];
  try {
    names = fs.readdirSync(usersDir(config)).filter((n) => n.endsWith('.pub'));
  } catch {
    // no users added yet
  }
  for (const name of names.sort()) {
    const principal = name.slice(0, -'.pub'.length);
    try {
      checkField('principal', principal);
      const text = fs.readFileSync(path.join(usersDir(config), name), 'utf8');
      keyLines(text).forEach((l, i) =>
        out.push({ principal, source: 'user add', ...parseKeyLine(l, `users/${name} line ${i + 1}`) }),
      );
    } catch (e) {
      warn(`users/${name} is skipped: ${(e as Error).message}`);
    }
  }
  return out;
}

/** principal → key lines, as the embedded server and authorized_keys take them. */
export function usersByPrincipal(keys: readonly UserKey[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const k of keys) (out[k.principal] ??= []).push(k.line);
  return out;
}

/**
 * `user add NAME --key FILE.pub`: NAME may log in with the keys in `keyText`. A key that is
 * NAME's already is left alone; one that is somebody else's is refused, since a key names one
 * principal. Returns the keys added (none when all were there).
 */
export async function addUser(
  config: Config,
  audit: AuditLog,
  actor: string,
  principal: string,
  keyText: string,
  keyFile: string,
): Promise<UserKey[]> {
  checkField('principal', principal);
  const lines = keyLines(keyText);
  if (!lines.length) throw new UsageError(`${keyFile} holds no public key line`);
  const wanted = lines.map((l, i) => ({
    principal,
    source: 'user add' as const,
    ...parseKeyLine(l, lines.length > 1 ? `${keyFile} line ${i + 1}` : keyFile),
  }));
  const existing = listUserKeys(config);
  if (existing.some((k) => k.principal === principal && k.source === 'config'))
    throw new ConflictError(
      'UserInConfig',
      `${principal} is listed under ssh.users in ${config.file}; add the key there, or remove that entry first`,
      { principal },
    );
  const added: UserKey[] = [];
  for (const k of wanted) {
    const owner = existing.find((e) => e.fingerprint === k.fingerprint);
    if (owner && owner.principal !== principal)
      throw new ConflictError('KeyTaken', `key ${k.fingerprint} already logs in as ${owner.principal}`, {
        principal,
        owner: owner.principal,
      });
    if (!owner && !added.some((a) => a.fingerprint === k.fingerprint)) added.push(k);
  }
  if (!added.length) return added;
  const mine = existing.filter((k) => k.principal === principal).map((k) => k.line);
  // Logged before the file changes: a key the audit log cannot record does not get in.
  await audit.append({ type: 'user.added', actor, data: { principal, keys: added.map((k) => k.fingerprint) } });
  fs.mkdirSync(usersDir(config), { recursive: true, mode: 0o755 });
  writeFileAtomic(userFile(config, principal), [...mine, ...added.map((k) => k.line)].join('\n') + '\n');
  return added;
}

/** `user remove NAME`: NAME's registered keys no longer log in. Returns the keys removed. */
export async function removeUser(
  config: Config,
  audit: AuditLog,
  actor: string,
  principal: string,
): Promise<UserKey[]> {
  checkField('principal', principal);
  const keys = listUserKeys(config).filter((k) => k.principal === principal);
  if (keys.some((k) => k.source === 'config'))
    throw new ConflictError(
      'UserInConfig',
      `${principal} is listed under ssh.users in ${config.file}; remove the entry there`,
      { principal },
    );
  if (!fs.existsSync(userFile(config, principal)))
    throw new NotFoundError(`no user ${principal}; see "pocketbuild user list"`, { principal });
  await audit.append({ type: 'user.removed', actor, data: { principal, keys: keys.map((k) => k.fingerprint) } });
  fs.rmSync(userFile(config, principal));
  return keys;
}
