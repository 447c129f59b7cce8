import type { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import type { Request } from '../queue/request.js';
import type { BuildRecord, BuildResult } from '../record/build-record.js';
import { runHooks, type HookEvent } from './hooks.js';
import type { AuditLog } from '../record/audit-log.js';

/** The variables every hook sees, as POCKETBUILD_<NAME>. When changing them, update README.md ("Hooks"). */
export function hookVars(config: Config, req: Request, record: BuildRecord, result?: BuildResult): Record<string, string> {
  return {
    id: req.id,
    pocket: req.pocket,
    package: req.package,
    commit: req.commit,
    principal: req.principal,
    origin: req.origin,
    status: result?.status ?? 'running',
    version: result?.version ?? '',
    reason: result?.reason ?? '',
    record: record.dir,
    log: record.logFile,
    state_dir: config.state_dir,
  };
}

/** Run the hooks for one event of one build. */
export async function fireHooks(config: Config, event: HookEvent, req: Request, record: BuildRecord, result?: BuildResult, log?: Writable, audit?: AuditLog): Promise<void> {
  const outcomes = await runHooks({
    hooksDir: config.hooks_dir,
    event,
    payload: { request: req, ...(result ? { result } : {}) },
    vars: hookVars(config, req, record, result),
    timeoutMs: config.hooks.timeout_seconds * 1000,
    log,
  });
  for (const o of outcomes) await audit?.append({ type: 'hook', actor: 'daemon', build: req.id, data: { event, hook: o.hook, ok: o.ok, how: o.how } });
}

