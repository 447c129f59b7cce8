import type { Config } from '../config/types.js';
import { submit } from '../entry/submit.js';
import { AuditLog } from '../record/audit-log.js';
import type { Request } from '../queue/request.js';
import { errorLine, outcomeCodeOf } from '../util/errors.js';

/**
 * The local `submit`: the trusted path (no ACL), but audited like every other way in, so
 * the log holds every request whoever made it, and every refusal.
 */
export async function runLocalSubmit(
  config: Config,
  a: { pocket: string; package: string; commit: string; principal: string },
): Promise<Request> {
  const audit = new AuditLog(config.state_dir);
  const base = {
    origin: 'cli',
    verb: 'submit',
    raw: ['submit', a.pocket, a.package, a.commit].join(' '),
    pocket: a.pocket,
    package: a.package,
  } as const;
  let accepted: string | undefined;
  try {
    // Logged before it is queued: a request the audit log cannot take is not queued.
    return await submit(config, { ...a, origin: 'cli' }, async (req) => {
      await audit.append({
        type: 'request.accepted',
        actor: a.principal,
        build: req.id,
        data: { ...base, commit: req.commit },
      });
      accepted = req.id;
    });
  } catch (e) {
    await audit
      .append({
        type: 'request.refused',
        actor: a.principal,
        ...(accepted ? { build: accepted } : {}),
        data: {
          ...base,
          code: outcomeCodeOf(e),
          reason: errorLine(e),
          ...(accepted ? { after: 'request.accepted' as const } : {}),
        },
      })
      .catch(() => {});
    throw e;
  }
}
