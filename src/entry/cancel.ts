import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { BuildRecord } from '../record/build-record.js';
import { endedWithoutBuild, finishRequest } from '../notify/finish-request.js';
import type { AuditLog } from '../record/audit-log.js';
import { NotFoundError, RefusedError } from '../util/errors.js';
import { AccessDenied, decide } from '../acl/index.js';

export type CancelOutcome = 'cancelled' | 'cancelling';

/**
 * Stop a request: one still waiting is taken out of the queue and recorded `cancelled` here;
 * one running is marked, and its daemon stops it (the build ends `cancelled`). Principals may
 * cancel their own requests; admins any.
 */
export async function cancelRequest(
  config: Config,
  audit: AuditLog,
  id: string,
  principal: string,
): Promise<CancelOutcome> {
  const queue = DirectoryQueue.forConfig(config);
  const req = queue.pending().find((r) => r.id === id);
  if (!req) {
    const done = new BuildRecord(config.state_dir, id).result();
    if (done)
      throw new RefusedError('AlreadyFinished', `request ${id} already finished (${done.status}); nothing to cancel.`, {
        id,
      });
    throw new NotFoundError(`no request ${id}; see "queue" for what is pending.`, { id });
  }
  if (req.principal !== principal && !(await decide(config, principal, { kind: 'admin' })).allowed) {
    throw new AccessDenied(
      `${principal} may not cancel ${id}, which ${req.principal} submitted (only its submitter and admins may).`,
      { principal, id },
    );
  }
  if (await queue.removeUnclaimed(id)) {
    const record = new BuildRecord(config.state_dir, id);
    record.begin(req);
    await audit.append({ type: 'cancel', actor: principal, build: id, data: { state: 'queued' } });
    await finishRequest(
      config,
      audit,
      req,
      record,
      endedWithoutBuild(req, 'cancelled', 'BuildCancelled', `cancelled by ${principal} before it started`),
    );
    return 'cancelled';
  }
  queue.requestCancel(id, principal);
  await audit.append({ type: 'cancel', actor: principal, build: id, data: { state: 'running' } });
  return 'cancelling';
}
