import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { AptRepository } from './reprepro.js';
import { createSigningKey, exportPublicKey, signingKey } from './signing-key.js';
import { builderKeyFiles, ensureBuilderKey } from '../record/builder-key.js';
import { PocketbuildError } from '../util/errors.js';

export interface PreparedState {
  repo: AptRepository;
  fingerprint: string;
  publicKey: string;
  /** The builder's Ed25519 public key (provenance, audit checkpoints), in the repository. */
  builderPub: string;
}

/**
 * Everything `init` does, safe to repeat (the daemon runs it at every start): the state
 * layout, a signing key when none is configured, one signed suite per pocket, the public
 * key beside the repository for clients' `signed-by`.
 */
export async function prepareState(config: Config, opts: { createKey: boolean }): Promise<PreparedState> {
  for (const d of [
    config.state_dir,
    path.join(config.state_dir, 'builds'),
    config.repos_dir,
    config.cache_dir,
    config.queue_dir,
  ]) {
    fs.mkdirSync(d, { recursive: true });
  }
  const fingerprint =
    config.signing.key === null && opts.createKey
      ? await createSigningKey(config.state_dir)
      : await signingKey(config.state_dir, config.signing.key);
  const repo = AptRepository.forStateDir(config.state_dir);
  const publicKey = await exportPublicKey(config.state_dir, fingerprint, repo.dir);
  await repo.configure(Object.values(config.pockets), fingerprint);
  // The provenance key, published beside the packages so anyone can run `pocketbuild verify`.
  ensureBuilderKey(config.state_dir);
  const builderPub = path.join(repo.dir, 'builder.pub');
  fs.copyFileSync(builderKeyFiles(config.state_dir).pub, builderPub);
  fs.chmodSync(builderPub, 0o644);
  return { repo, fingerprint, publicKey, builderPub };
}

/**
 * A builder host (daemon.publish false) joins the state the publishing host prepared, over the
 * shared file system: it makes only its own directories (cache, scratch) and never the signing
 * key or the repository, whose database must stay on the publishing host's own disk.
 */
export function joinState(config: Config): { repo: AptRepository } {
  for (const d of [config.cache_dir, config.work_dir]) fs.mkdirSync(d, { recursive: true });
  const repo = AptRepository.forStateDir(config.state_dir);
  const needed = [
    config.queue_dir,
    path.join(config.state_dir, 'builds'),
    config.repos_dir,
    builderKeyFiles(config.state_dir).pub,
    path.join(repo.dir, 'dists'),
  ];
  const missing = needed.filter((p) => !fs.existsSync(p));
  if (missing.length)
    throw new PocketbuildError(
      'StateNotReady',
      `this builder host (daemon.publish: false) finds no prepared state: ${missing.join(', ')} missing; start the publishing daemon first, on the host whose disk holds state_dir, and check that state_dir and queue_dir are the shared file system's mounts.`,
    );
  return { repo };
}
