import type { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import { requestKey, type Request } from '../queue/request.js';
import type { AuditLog } from '../record/audit-log.js';
import type { BuildRecord, BuildResult } from '../record/build-record.js';
import { BuildIndex } from '../record/build-index.js';
import { provenanceDigest } from '../record/provenance-file.js';
import type { FinalStatus, OutcomeCode } from '../util/outcomes.js';
import { fireHooks } from '../notify/build-hooks.js';
import { faultPoint } from '../util/fault-point.js';

/**
 * The one way a request ends, whatever ended it (the build's own outcome, an error around the
 * build, a cancel before it started): the result is written, then the audit log says so, then
 * the hooks run, in that order, so that a hook never reports what the record does not hold
 * and the audit log never misses an outcome a hook reported. The caller then removes the
 * request from the queue. `resumed`: the result was written by a daemon that died before the
 * request left the queue; each later part is done unless it is on record already.
 */
export async function finishRequest(
  config: Config,
  audit: AuditLog,
  req: Request,
  record: BuildRecord,
  result: BuildResult,
  log?: Writable,
  o: { resumed?: boolean } = {},
): Promise<void> {
  // Resumed with a result on record: it stands. Resumed without one (it was cut short): written now.
  if (!o.resumed || !record.result()) record.finish(result);
  new BuildIndex(config.state_dir).append(req, result); // one entry per id, however often appended
  faultPoint('finish:after-result');
  const audited = o.resumed && audit.entriesOf(req.id).some((e) => e.type === 'build.finished');
  if (!audited)
    await audit.append({
      type: 'build.finished',
      actor: 'daemon',
      build: req.id,
      data: {
        status: result.status,
        code: result.code ?? null,
        reason: result.reason ?? null,
        version: result.version ?? null,
        outputs: result.outputs,
        provenance: provenanceDigest(record)?.sha256 ?? null,
      },
    });
  faultPoint('finish:after-audit');
  // A promotion that succeeded is told as such: recipients tell it from a build by the event.
  const event = req.promote && result.status === 'succeeded' ? 'promoted' : result.status;
  await fireHooks(config, event, req, record, result, log, audit, { once: true });
}

/** The result of a request that ended without a build's own result (nothing built, nothing published). */
export function endedWithoutBuild(
  req: Request,
  status: FinalStatus,
  code: OutcomeCode,
  reason: string,
  started = new Date().toISOString(),
): BuildResult {
  return {
    ...requestKey(req),
    status,
    code,
    reason,
    started,
    finished: new Date().toISOString(),
    stages: [],
    outputs: [],
  };
}
