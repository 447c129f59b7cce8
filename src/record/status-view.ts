import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { BuildRecord, type BuildResult, type Status } from './build-record.js';
import { BuildIndex, type IndexedBuild } from './build-index.js';
import type { Request, RequestKey } from '../queue/request.js';
import type { OutcomeCode } from '../util/outcomes.js';
import { dependencyState } from './batch-deps.js';

export interface StatusRow extends RequestKey, Pick<Request, 'time'> {
  status: Status;
  version?: string;
  /** The outcome code of a build that did not succeed (BuildDepsUnsatisfiable, VersionNotNewer…). */
  code?: OutcomeCode;
  reason?: string;
  /** A promotion: the pocket whose build it publishes. */
  promoted_from?: string;
}

/** Queued and running requests, oldest first. */
export async function activeRequests(config: Config): Promise<StatusRow[]> {
  const queue = DirectoryQueue.forConfig(config);
  const active: StatusRow[] = [];
  const pending = queue.pending();
  const ids = new Set(pending.map((r) => r.id));
  for (const r of pending) {
    if (await queue.isClaimed(r.id)) active.push(row(r, 'running'));
    else active.push(waiting(config, r, ids));
  }
  return active;
}

/** Queued and running requests (oldest first), then the most recent finished builds (newest first). */
export async function collectStatus(
  config: Config,
  recent = 20,
  pkg?: string,
): Promise<{ active: StatusRow[]; recent: StatusRow[] }> {
  const active = await activeRequests(config);
  const finished = new BuildIndex(config.state_dir).query(pkg ? { package: pkg } : {}, 0, recent).items;
  return { active, recent: finished.map((e) => row(e, e.status, e)) };
}

/** One build's state: its result if finished, else where it is in the queue. */
export async function buildStatus(
  config: Config,
  id: string,
): Promise<{ row: StatusRow; result: BuildResult | null; logFile: string } | null> {
  const rec = new BuildRecord(config.state_dir, id);
  const res = rec.result();
  const queue = DirectoryQueue.forConfig(config);
  const req = rec.request() ?? queue.pending().find((r) => r.id === id) ?? null;
  if (!req) return null;
  if (res) return { row: row(req, res.status, res), result: res, logFile: rec.logFile };
  if (await queue.isClaimed(id)) return { row: row(req, 'running'), result: null, logFile: rec.logFile };
  const pending = queue.pending();
  return { row: waiting(config, req, new Set(pending.map((r) => r.id))), result: null, logFile: rec.logFile };
}

/** A request not claimed yet: `queued`, or `dep-wait` with what it waits for as its reason. */
function waiting(config: Config, r: Request, pending: ReadonlySet<string>): StatusRow {
  const queue = DirectoryQueue.forConfig(config);
  const deps = dependencyState(config.state_dir, r, (id) => pending.has(id) || queue.holds(id));
  return deps.kind === 'wait' ? row(r, 'dep-wait', { reason: deps.reason }) : row(r, 'queued');
}

function row(
  r: Request | IndexedBuild,
  status: Status,
  res?: Pick<BuildResult, 'version' | 'code' | 'reason'>,
): StatusRow {
  return {
    id: r.id,
    status,
    pocket: r.pocket,
    package: r.package,
    commit: r.commit,
    principal: r.principal,
    time: r.time,
    ...('promote' in r && r.promote ? { promoted_from: r.promote.from } : {}),
    ...('promoted_from' in r && r.promoted_from ? { promoted_from: r.promoted_from } : {}),
    ...(res?.version ? { version: res.version } : {}),
    ...(res?.code ? { code: res.code } : {}),
    ...(res?.reason ? { reason: res.reason } : {}),
  };
}
