import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { configuredPocket, type Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { checkField, type Origin, type Request } from '../queue/request.js';
import { exportedVersion } from '../publish/exported-index.js';
import { AptRepository } from '../publish/reprepro.js';
import { validatePromotion } from '../pipeline/validate.js';
import { deleteBranch } from '../git/refs.js';
import { readRef } from '../git/resolve.js';
import { Refused, UnknownPackage, UnknownPocket } from '../util/errors.js';

export interface PromoteInput {
  package: string;
  from: string;
  to: string;
  /** What FROM must publish; unset: whatever it publishes now. */
  version?: string;
  principal: string;
  origin: Origin;
}

/**
 * Check a promotion against the published suites (what apt clients see) and queue it: the
 * daemon checks it again when its turn comes, and copies the files then. Nothing is queued
 * unless every check passed and `beforeQueue` (the audit entry) ran.
 */
export async function submitPromotion(
  config: Config,
  input: PromoteInput,
  beforeQueue?: (req: Request) => Promise<void>,
): Promise<Request> {
  for (const p of [input.from, input.to]) checkField('pocket', p);
  checkField('package', input.package);
  checkField('principal', input.principal);
  if (input.version !== undefined) checkField('version', input.version);
  const to = configuredPocket(config, input.to);
  if (!to) throw new UnknownPocket(input.to, Object.keys(config.pockets));
  const gitdir = path.join(config.repos_dir, `${input.package}.git`);
  if (!fs.existsSync(gitdir)) throw new UnknownPackage(input.package);
  const aptDir = path.join(config.state_dir, 'apt');
  const found = await validatePromotion(
    {
      config,
      req: { pocket: input.to, package: input.package, principal: input.principal, origin: input.origin },
      pocket: to,
      gitdir,
      publishedVersion: async (suite, source) => exportedVersion(aptDir, suite, source),
      log: new Writable({ write: (_chunk, _enc, done) => done() }),
    },
    input.from,
    input.version,
  );
  const queue = DirectoryQueue.forConfig(config);
  const req: Request = {
    v: 1,
    id: queue.newId(),
    pocket: input.to,
    package: input.package,
    commit: found.commit,
    commit_spec: found.version,
    principal: input.principal,
    origin: input.origin,
    time: new Date().toISOString(),
    promote: { from: input.from, version: found.version, build: found.build },
  };
  await beforeQueue?.(req);
  queue.enqueue(req);
  return req;
}

/**
 * Withdraw a package from a pocket (admins only; the caller checks): its source and binaries
 * leave the suite, in one new signed Release, and the pocket's branch, which says what the
 * pocket publishes, is deleted. Its tags stay: they are the history of what was published.
 * Returns what was withdrawn and where the branch pointed.
 */
export async function removePackage(
  config: Config,
  pkg: string,
  pocketName: string,
): Promise<{ version: string; branch: string | null }> {
  checkField('package', pkg);
  const pocket = configuredPocket(config, checkField('pocket', pocketName));
  if (!pocket) throw new UnknownPocket(pocketName, Object.keys(config.pockets));
  const repo = AptRepository.forStateDir(config.state_dir);
  const version = await repo.publishedVersion(pocket.suite, pkg);
  if (!version) throw new Refused('NotPublished', `pocket ${pocket.name} does not publish ${pkg}; nothing to remove.`);
  await repo.removeSource(pocket.suite, pkg);
  const gitdir = path.join(config.repos_dir, `${pkg}.git`);
  const branch = fs.existsSync(gitdir) ? await readRef(gitdir, `refs/heads/${pocket.name}`) : null;
  if (branch) await deleteBranch(gitdir, pocket.name, branch);
  return { version, branch };
}
