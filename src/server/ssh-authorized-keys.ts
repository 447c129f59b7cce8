import type { ParsedKey } from 'ssh2';
import { parseSshKey, sshFingerprint } from './ssh-host-key.js';
import { ConfigError } from '../util/errors.js';

/** One public key a principal may log in with. */
export interface AuthorizedKey {
  /** The key type, e.g. `ssh-ed25519`, `ssh-rsa`. */
  type: string;
  /** The public key in SSH wire format (what a client sends in a publickey request). */
  blob: Buffer;
  fingerprint: string;
  parsed: ParsedKey;
}

/** The key types the embedded server can verify signatures for. */
export const SUPPORTED_KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
]);

/**
 * Parse `principal -> OpenSSH public key lines` (`ssh-ed25519 AAAA… comment`). Blank lines and
 * `#` comments are skipped. A line that is not a public key at all is a configuration error and
 * throws (naming the principal and line, never guessing); a well-formed key of a type this server
 * cannot verify (DSA, security keys, certificates) is skipped with a warning so one odd key does
 * not lock everybody out.
 */
export function parseAuthorizedKeys(
  users: Record<string, readonly string[]>,
  warn: (line: string) => void,
): Map<string, AuthorizedKey[]> {
  const out = new Map<string, AuthorizedKey[]>();
  for (const principal of Object.keys(users)) {
    const lines = users[principal];
    if (!Array.isArray(lines))
      throw new ConfigError(`ssh users: ${JSON.stringify(principal)}: expected a list of public keys`);
    const keys: AuthorizedKey[] = [];
    lines.forEach((raw, i) => {
      if (typeof raw !== 'string')
        throw new ConfigError(`ssh users: ${JSON.stringify(principal)} key ${i + 1}: not a string`);
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `ssh users: ${JSON.stringify(principal)} key ${i + 1}`;
      const type = line.split(/\s+/, 1)[0] ?? '';
      if (!SUPPORTED_KEY_TYPES.has(type)) {
        if (/^(sk-|ssh-dss$|.*-cert-v0[01]@openssh\.com$)/.test(type)) {
          warn(`${where}: key type ${type} is not supported by the embedded SSH server; ignoring this key`);
          return;
        }
        throw new ConfigError(`${where}: not an OpenSSH public key line (expected e.g. "ssh-ed25519 AAAA… comment")`);
      }
      const parsed = parseSshKey(line);
      if (parsed instanceof Error || parsed.isPrivateKey()) {
        throw new ConfigError(
          `${where}: cannot parse the ${type} public key${parsed instanceof Error ? `: ${parsed.message}` : ''}`,
        );
      }
      const blob = parsed.getPublicSSH();
      keys.push({ type: parsed.type, blob, fingerprint: sshFingerprint(blob), parsed });
    });
    out.set(principal, keys);
  }
  return out;
}

/**
 * The authorized key matching what a client offered, or undefined. `algo` and `hashAlgo` are as
 * ssh2 reports them: RSA keys arrive as `ssh-rsa` with `hashAlgo` `sha256`/`sha512`; SHA-1 RSA
 * signatures (no `hashAlgo`) are not accepted, as in OpenSSH since 8.8.
 */
export function matchKey(
  keys: readonly AuthorizedKey[],
  algo: string,
  blob: Buffer,
  hashAlgo: string | undefined,
): AuthorizedKey | undefined {
  if (algo === 'ssh-rsa' && hashAlgo !== 'sha256' && hashAlgo !== 'sha512') return undefined;
  return keys.find((k) => k.type === algo && k.blob.equals(blob));
}
