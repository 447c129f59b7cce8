import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { BuildRecord, type BuildResult, type Status } from './build-record.js';
import { BuildIndex, type IndexedBuild } from './build-index.js';
import type { Request, RequestKey } from '../queue/request.js';
import type { OutcomeCode } from '../util/outcomes.js';

export interface StatusRow extends RequestKey, Pick<Request, 'time'> {
  status: Status;
  version?: string;
  /** The outcome code of a build that did not succeed (BuildDepsUnsatisfiable, VersionNotNewer…). */
  code?: OutcomeCode;
  reason?: string;
}

/** Queued and running requests, oldest first. */
export async function activeRequests(config: Config): Promise<StatusRow[]> {
  const queue = DirectoryQueue.forConfig(config);
  const active: StatusRow[] = [];
  for (const r of queue.pending()) active.push(row(r, (await queue.isClaimed(r.id)) ? 'running' : 'queued'));
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
  const status: Status = res ? res.status : (await queue.isClaimed(id)) ? 'running' : 'queued';
  return { row: row(req, status, res ?? undefined), result: res, logFile: rec.logFile };
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
    ...(res?.version ? { version: res.version } : {}),
    ...(res?.code ? { code: res.code } : {}),
    ...(res?.reason ? { reason: res.reason } : {}),
  };
}
