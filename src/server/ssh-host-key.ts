import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { ConfigError } from '../util/errors.js';

const { utils } = ssh2;

export interface HostKey {
  /** The private key file's text (OpenSSH format), as ssh2's `hostKeys` takes it. */
  privateKey: string;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** True when this call generated the key. */
  created: boolean;
}

/** The OpenSSH fingerprint of a public key blob (SSH wire format): `SHA256:` + unpadded base64. */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** ssh2's parseKey, with its runtime quirks (an array for some formats, an Error instead of a throw) folded away. */
export function parseSshKey(text: string | Buffer): ParsedKey | Error {
  const parsed: unknown = utils.parseKey(text);
  if (parsed instanceof Error) return parsed;
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : (parsed as ParsedKey);
  return key ?? new Error('no key found');
}

/**
 * Read the host key at `file`, or make one (ed25519, OpenSSH private key format, mode 0600, in a
 * directory created 0700) if there is none. Creation is atomic and race-free: the complete key is
 * written to a temporary file and hard-linked into place, so a concurrent starter either wins or
 * reads the winner's key; nobody ever sees a half-written file.
 */
export async function loadOrCreateHostKey(file: string, warn: (line: string) => void): Promise<HostKey> {
  let created = false;
  let text = await readIfExists(file);
  if (text === undefined) {
    text = await createHostKey(file);
    created = true;
  } else {
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) {
      warn(
        `host key ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); it should be 0600`,
      );
    }
  }
  const key = parseSshKey(text);
  if (key instanceof Error) throw new ConfigError(`host key ${file}: cannot parse it: ${key.message}`);
  if (!key.isPrivateKey()) throw new ConfigError(`host key ${file}: not a private key`);
  return { privateKey: text, fingerprint: sshFingerprint(key.getPublicSSH()), created };
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function createHostKey(file: string): Promise<string> {
  const dir = path.dirname(file);
  const made = await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask; say it exactly for the directory we made.
  if (made !== undefined) await chmod(dir, 0o700);

  const pair = utils.generateKeyPairSync('ed25519', { comment: 'pocketbuild host key' });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.chmod(0o600);
      await fh.writeFile(pair.private);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Someone else made it first: use theirs.
      const theirs = await readIfExists(file);
      if (theirs !== undefined) return theirs;
      throw err;
    }
    await syncDir(dir);
    return pair.private;
  } finally {
    await rm(tmp, { force: true });
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every file system lets a directory be fsynced; the key is written either way.
  }
}
