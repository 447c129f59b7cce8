import type { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import type { Claim } from '../queue/directory-queue.js';
import { BuildRecord, type BuildResult } from '../record/build-record.js';
import { runHooks, type HookEvent } from '../notify/hooks.js';
import { AptRepository } from '../publish/reprepro.js';
import { ShuttingDown } from '../daemon/daemon.js';
import { runBuild } from './run-build.js';
import type { Request } from '../queue/request.js';

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

export async function fireHooks(config: Config, event: HookEvent, req: Request, record: BuildRecord, result?: BuildResult, log?: Writable): Promise<void> {
  await runHooks({
    hooksDir: config.hooks_dir,
    event,
    payload: { request: req, ...(result ? { result } : {}) },
    vars: hookVars(config, req, record, result),
    timeoutMs: config.hooks.timeout_seconds * 1000,
    log,
  });
}

/**
 * Turns a claimed request into a finished build record: the glue between the generic
 * daemon and the Debian build. A build stopped by shutdown leaves no result and gives its
 * claim back, so the next start builds it again from the beginning (or from the journal).
 */
export function makeWorker(config: Config, repo: AptRepository, say: (line: string) => void) {
  return async (claim: Claim, signal: AbortSignal): Promise<void> => {
    const req = claim.request;
    const record = new BuildRecord(config.state_dir, req.id);
    record.begin(req);
    const log = record.openLog();
    try {
      say(`build ${req.id}: ${req.package} ${req.commit.slice(0, 12)} -> ${req.pocket}: started`);
      await fireHooks(config, 'started', req, record, undefined, log);
      const result = await runBuild(req, { config, repo, signal }, record, log);
      if (signal.reason instanceof ShuttingDown) {
        log.write('daemon shutting down: the request stays queued and will be built again\n');
        await claim.release();
        return;
      }
      record.finish(result);
      const secs = ((Date.parse(result.finished) - Date.parse(result.started)) / 1000).toFixed(1);
      say(`build ${req.id}: ${req.package} ${result.version ?? ''} -> ${req.pocket}: ${result.status} in ${secs} s${result.reason ? `: ${result.reason}` : ''}`);
      await fireHooks(config, result.status, req, record, result, log);
      await claim.finish();
    } finally {
      await new Promise<void>((resolve) => log.end(resolve));
    }
  };
}
