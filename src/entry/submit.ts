import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { isCommitSpec } from './grammar.js';
import { checkField, type Origin, type Request } from '../queue/request.js';
import { revParseCommit } from '../git/rev-parse.js';
import { UnknownPackage, UnknownPocket, UsageError } from '../util/errors.js';

export interface SubmitInput {
  pocket: string;
  package: string;
  /** Full id, unambiguous prefix, branch or tag: resolved now and recorded as a full id. */
  commit: string;
  principal: string;
  origin: Origin;
}

/**
 * Check a build request and queue it: the pocket exists, the package repository exists,
 * the commit resolves. Returns the queued request. Nothing is written unless every check passed.
 * (ACLs are the caller's business: the local CLI is the trusted path.)
 */
export async function submit(
  config: Config,
  input: SubmitInput,
  beforeQueue?: (req: Request) => Promise<void>,
): Promise<Request> {
  checkField('pocket', input.pocket);
  checkField('package', input.package);
  checkField('principal', input.principal);
  if (!isCommitSpec(input.commit)) {
    throw new UsageError(
      `invalid commit ${JSON.stringify(input.commit.slice(0, 80))}: give a commit id, a unique prefix of one, or a branch or tag name.`,
    );
  }
  // hasOwn: a pocket named like an inherited property ("constructor") is not configured.
  if (!Object.hasOwn(config.pockets, input.pocket)) throw new UnknownPocket(input.pocket, Object.keys(config.pockets));
  const gitdir = path.join(config.repos_dir, `${input.package}.git`);
  if (!fs.existsSync(gitdir)) throw new UnknownPackage(input.package);
  const commit = await revParseCommit(gitdir, input.commit);
  const queue = DirectoryQueue.forConfig(config);
  const req: Request = {
    v: 1,
    id: queue.newId(),
    pocket: input.pocket,
    package: input.package,
    commit,
    commit_spec: input.commit,
    principal: input.principal,
    origin: input.origin,
    time: new Date().toISOString(),
  };
  // E.g. the audit entry: if it cannot be written, nothing is queued.
  await beforeQueue?.(req);
  queue.enqueue(req);
  return req;
}
