import fs from 'node:fs';
import path from 'node:path';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { PocketbuildError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/**
 * The builder's Ed25519 identity, which signs provenance and audit checkpoints. It is
 * separate from the GPG key that signs the APT repository: verifiers of provenance need
 * nothing but this public key and Node (or any Ed25519 library), no keyring.
 * `<state_dir>/keys/builder.key` (PKCS#8 PEM, 0600) and `builder.pub` (SPKI PEM).
 */
export interface BuilderKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** sha256 of the SPKI DER, hex: what a DSSE signature's keyid says. */
  keyid: string;
}

export function builderKeyFiles(stateDir: string): { key: string; pub: string } {
  const dir = path.join(stateDir, 'keys');
  return { key: path.join(dir, 'builder.key'), pub: path.join(dir, 'builder.pub') };
}

/** Make the key if there is none (init and daemon start); safe to repeat. */
export function ensureBuilderKey(stateDir: string): BuilderKey {
  const files = builderKeyFiles(stateDir);
  if (!fs.existsSync(files.key)) {
    fs.mkdirSync(path.dirname(files.key), { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(files.pub, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
    // wx: two processes racing to make it must not end up with two different keys.
    try {
      fs.writeFileSync(files.key, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
        flag: 'wx',
        mode: 0o600,
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return loadBuilderKey(stateDir);
}

export function loadBuilderKey(stateDir: string): BuilderKey {
  const files = builderKeyFiles(stateDir);
  let pem: string;
  try {
    pem = fs.readFileSync(files.key, 'utf8');
  } catch {
    throw new PocketbuildError('NoBuilderKey', `no builder key at ${files.key}; run "pocketbuild init" to make one.`);
  }
  const privateKey = createPrivateKey(pem);
  const publicKey = createPublicKey(privateKey);
  // Keep builder.pub in step with the private key, so what verifiers are given is right.
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  if (readOrNull(files.pub) !== pubPem) writeFileAtomic(files.pub, pubPem, 0o644);
  return { privateKey, publicKey, keyid: keyId(publicKey) };
}

/** A public key from a PEM file given to a verifier (`--key FILE`). */
export function readPublicKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch {
    throw new PocketbuildError(
      'NoPublicKey',
      `cannot read the public key ${file}; give the builder's builder.pub (published as <repository>/builder.pub).`,
      { file },
    );
  }
  try {
    const k = createPublicKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(k.asymmetricKeyType);
    return k;
  } catch {
    throw new PocketbuildError('BadPublicKey', `${file} is not an Ed25519 public key in PEM form (builder.pub).`, {
      file,
    });
  }
}

export function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
