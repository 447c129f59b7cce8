import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { isCommitSpec } from './grammar.js';
import { checkField, newRequestId, type Origin, type Request } from '../queue/request.js';
import { revParseCommit } from '../git/rev-parse.js';
import { readBlobAt } from '../git/resolve.js';
import { sourceRelations } from '../debian/control.js';
import { PocketbuildError, UnknownPackage, UnknownPocket, UsageError } from '../util/errors.js';

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
  const [req] = await submitBatch(
    config,
    { ...input, items: [{ package: input.package, commit: input.commit }] },
    beforeQueue,
  );
  return req!;
}

export interface BatchInput extends Omit<SubmitInput, 'package' | 'commit'> {
  items: Array<{ package: string; commit: string }>;
}

/**
 * Check and queue several requests into one pocket as one batch. A request whose
 * debian/control Build-Depends names a binary another request of the batch builds waits
 * (`after`) until that one is published; the requests are queued in that order. A batch that
 * cannot be ordered (a cycle) is refused. Nothing is queued unless every request passed, and
 * every `beforeQueue` (the audit entries) ran before the first is queued.
 */
export async function submitBatch(
  config: Config,
  input: BatchInput,
  beforeQueue?: (req: Request) => Promise<void>,
): Promise<Request[]> {
  checkField('pocket', input.pocket);
  checkField('principal', input.principal);
  // hasOwn: a pocket named like an inherited property ("constructor") is not configured.
  if (!Object.hasOwn(config.pockets, input.pocket)) throw new UnknownPocket(input.pocket, Object.keys(config.pockets));
  const resolved = [];
  for (const item of input.items) {
    checkField('package', item.package);
    if (!isCommitSpec(item.commit)) {
      throw new UsageError(
        `invalid commit ${JSON.stringify(item.commit.slice(0, 80))}: give a commit id, a unique prefix of one, or a branch or tag name.`,
      );
    }
    const gitdir = path.join(config.repos_dir, `${item.package}.git`);
    if (!fs.existsSync(gitdir)) throw new UnknownPackage(item.package);
    const commit = await revParseCommit(gitdir, item.commit);
    resolved.push({ ...item, commit, spec: item.commit, gitdir });
  }
  const order = input.items.length > 1 ? await batchOrder(resolved) : [{ index: 0, after: [] }];
  const queue = DirectoryQueue.forConfig(config);
  const reqs: Request[] = [];
  const idOf = new Map<number, string>();
  for (const { index, after } of order) {
    const item = resolved[index]!;
    // Each id sorts after the queue's newest, and after the batch's previous one.
    const id = reqs.length ? newRequestId(Date.now(), reqs.at(-1)!.id) : queue.newId();
    idOf.set(index, id);
    const waitsFor = after.map((i) => idOf.get(i)!);
    reqs.push({
      v: 1,
      id,
      pocket: input.pocket,
      package: item.package,
      commit: item.commit,
      commit_spec: item.spec,
      principal: input.principal,
      origin: input.origin,
      time: new Date().toISOString(),
      ...(waitsFor.length ? { after: waitsFor } : {}),
    });
  }
  // E.g. the audit entries: if one cannot be written, nothing is queued.
  for (const r of reqs) await beforeQueue?.(r);
  for (const r of reqs) queue.enqueue(r);
  return reqs;
}

/**
 * The batch's requests in an order where each comes after those building a binary it
 * build-depends on, with those (indices into `items`). Kept in the submitted order where free.
 */
async function batchOrder(
  items: Array<{ package: string; commit: string; gitdir: string }>,
): Promise<Array<{ index: number; after: number[] }>> {
  const relations = await Promise.all(
    items.map(async (it) => {
      const control = await readBlobAt(it.gitdir, it.commit, 'debian/control');
      return control ? sourceRelations(control.toString('utf8')) : { binaries: [], buildDepends: [] };
    }),
  );
  const needs = relations.map((r, i) =>
    relations.flatMap((other, j) => (j !== i && other.binaries.some((b) => r.buildDepends.includes(b)) ? [j] : [])),
  );
  const order: Array<{ index: number; after: number[] }> = [];
  const state = new Array<'new' | 'visiting' | 'done'>(items.length).fill('new');
  const visit = (i: number, path: number[]): void => {
    if (state[i] === 'done') return;
    if (state[i] === 'visiting') {
      const cycle = [...path.slice(path.indexOf(i)), i].map((k) => items[k]!.package);
      throw new PocketbuildError(
        'BatchCycle',
        `the batch cannot be ordered: ${cycle.join(' build-depends on a binary of ')}; submit one of them on its own first.`,
        { cycle },
      );
    }
    state[i] = 'visiting';
    for (const j of needs[i]!) visit(j, [...path, i]);
    state[i] = 'done';
    order.push({ index: i, after: needs[i]! });
  };
  items.forEach((_, i) => visit(i, []));
  return order;
}
