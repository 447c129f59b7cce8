import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { BuildRecord } from '../record/build-record.js';
import type { AuditLog } from '../record/audit-log.js';
import { NotFoundError, ConflictError } from '../util/errors.js';
import { AccessDenied } from '../acl/index.js';

/** Where the request was when its cancel was asked for. */
export type CancelOutcome = 'queued' | 'running';

/**
 * Ask for a request to be stopped. Only the wish is recorded here (a marker in the queue and
 * an audit entry); the daemon ends the request, as it ends every request: one still waiting
 * at once, without building it, one running at its next step or by stopping its sandbox.
 * Principals may cancel their own requests; admins any.
 */
export async function cancelRequest(
  config: Config,
  audit: AuditLog,
  id: string,
  principal: string,
  /** Whether the caller may cancel anybody's request (an admin, or the builder's own operator). */
  admin: boolean,
): Promise<CancelOutcome> {
  const queue = DirectoryQueue.forConfig(config);
  const req = queue.pending().find((r) => r.id === id);
  if (!req) {
    const done = new BuildRecord(config.state_dir, id).result();
    if (done)
      throw new ConflictError(
        'AlreadyFinished',
        `request ${id} already finished (${done.status}); nothing to cancel.`,
        {
          id,
        },
      );
    throw new NotFoundError(`no request ${id}; see "queue" for what is pending.`, { id });
  }
  if (req.principal !== principal && !admin) {
    throw new AccessDenied(
      `${principal} may not cancel ${id}, which ${req.principal} submitted (only its submitter and admins may).`,
      { principal, id },
    );
  }
  const state: CancelOutcome = (await queue.isClaimed(id)) ? 'running' : 'queued';
  queue.requestCancel(id, principal);
  await audit.append({ type: 'cancel', actor: principal, build: id, data: { state } });
  return state;
}
