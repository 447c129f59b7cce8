import type { Writable } from 'node:stream';
import { buildUrl, type Config } from '../config/types.js';
import { requestKey, type Request } from '../queue/request.js';
import type { BuildRecord, BuildResult } from '../record/build-record.js';
import { die, faultArmed } from '../util/fault-point.js';
import { runHooks, statusAt, type HookEvent } from './hooks.js';
import type { AuditLog } from '../record/audit-log.js';
import { ensureBuilderKey } from '../record/builder-key.js';
import { auditOrigin, signCheckpoint } from '../record/checkpoint.js';
import { provenanceDigest } from '../record/provenance-file.js';

/** The variables every hook sees, as POCKETBUILD_<NAME>. When changing them, update README.md ("Hooks"). */
export function hookVars(
  config: Config,
  req: Request,
  record: BuildRecord,
  result?: BuildResult,
  event?: HookEvent,
): Record<string, string> {
  return {
    ...requestKey(req),
    origin: req.origin,
    status: statusAt(event ?? 'started', result),
    version: result?.version ?? '',
    code: result?.code ?? '',
    reason: result?.reason ?? '',
    record: record.dir,
    log: record.logFile,
    state_dir: config.state_dir,
    // So a hook can read the rest of the configuration (the e-mail hook's SMTP settings).
    config: config.file,
    url: buildUrl(config, req.id) ?? '',
  };
}

/**
 * The audit log's signed checkpoint as of now, so that every notification carries the chain
 * head off the machine (README.md, "Audit log"); hooks never need the builder's private key.
 */
export function auditAnchor(config: Config, audit: AuditLog): { size: number; head: string; checkpoint: string } {
  const { size, head } = audit.head();
  const checkpoint = signCheckpoint(
    { origin: auditOrigin(config.builder.id), size, head },
    ensureBuilderKey(config.state_dir),
  );
  return { size, head, checkpoint };
}

/**
 * Run the hooks for one event of one build, each audited as it ends. With `once`, the event is
 * a request's end: each hook that ends is noted in the build's journal, and a finish resumed
 * after a crash runs only the hooks not noted (a hook killed with its daemon runs again).
 */
export async function fireHooks(
  config: Config,
  event: HookEvent,
  req: Request,
  record: BuildRecord,
  result?: BuildResult,
  log?: Writable,
  audit?: AuditLog,
  o: { once?: boolean } = {},
): Promise<void> {
  const anchor = audit ? auditAnchor(config, audit) : undefined;
  const provenance = provenanceDigest(record);
  const vars = hookVars(config, req, record, result, event);
  if (anchor) Object.assign(vars, { audit_size: String(anchor.size), audit_head: anchor.head });
  if (provenance) Object.assign(vars, { provenance: provenance.file, provenance_sha256: provenance.sha256 });
  const ran = new Set(o.once ? (record.journal().hooks_ran ?? []) : []);
  await runHooks({
    hooksDir: config.hooks_dir,
    event,
    payload: {
      request: req,
      ...(result ? { result } : {}),
      ...(anchor ? { audit: anchor } : {}),
      ...(provenance ? { provenance } : {}),
      ...(vars.url ? { url: vars.url } : {}),
    },
    vars,
    timeoutMs: config.hooks.timeout_seconds * 1000,
    log,
    skip: ran,
    onStarted: () => {
      if (o.once && faultArmed('hooks:during')) setTimeout(die, 300);
    },
    onEnded: async (h) => {
      if (o.once) record.note({ hooks_ran: [...ran.add(h.hook)] });
      await audit?.append({
        type: 'hook',
        actor: 'daemon',
        build: req.id,
        data: { event, hook: h.hook, ok: h.ok, how: h.how },
      });
    },
  });
}
