import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import type { Request } from '../queue/request.js';
import { asKnownError, errorLine, outcomeCodeOf, PocketbuildError } from '../util/errors.js';
import { outcome } from '../util/outcomes.js';
import type { Claim } from '../queue/directory-queue.js';
import { BuildRecord, type BuildResult } from '../record/build-record.js';
import { fireHooks } from '../notify/build-hooks.js';
import { AptRepository } from '../publish/reprepro.js';
import { CancelRequested, DependencyFailed, ShuttingDown } from '../daemon/daemon.js';
import { dependencyState } from '../record/batch-deps.js';
import { HANDED_OFF, runBuild } from './run-build.js';
import type { AuditLog } from '../record/audit-log.js';
import { CappedLog } from '../record/capped-log.js';
import { endedWithoutBuild, finishRequest } from './finish-request.js';

/**
 * A request's life once the daemon has claimed it: the `started` hooks, the build, and its
 * end. This is the only place a request ends (finishRequest), whatever ended it: the build's
 * own outcome, a cancel before it started, or an error around the build. A build stopped by
 * shutdown leaves no result and gives its claim back, so the next start builds it again from
 * the beginning (or from the journal).
 */
export function makeWorker(live: Config, repo: AptRepository, audit: AuditLog, say: (line: string) => void) {
  const announcing = new Map<string, Promise<void>>();
  /**
   * The `submitted` hooks, once per request whichever daemon sees it first: the marker is a
   * directory made in the build's record, and mkdir is atomic on network file systems too
   * (where an exclusive create is not), so daemons on several hosts agree.
   */
  const onQueued = (req: Request): Promise<void> | undefined => {
    const config = live;
    const record = new BuildRecord(config.state_dir, req.id);
    fs.mkdirSync(record.dir, { recursive: true });
    try {
      fs.mkdirSync(path.join(record.dir, 'submitted-hooks'));
    } catch {
      return undefined;
    }
    const log = record.openLog();
    const done = fireHooks(config, 'submitted', req, record, undefined, log, audit)
      .catch((e) => say(`build ${req.id}: submitted hooks: ${errorLine(e)}`))
      .finally(() => {
        log.end();
        announcing.delete(req.id);
      });
    announcing.set(req.id, done);
    return done;
  };

  /** Runs the build, or says why none runs; null when the daemon is stopping and the request stays queued. */
  const runOrSayWhy = async (config: Config, req: Request, record: BuildRecord, log: Writable, signal: AbortSignal) => {
    if (signal.reason instanceof DependencyFailed) {
      log.write(`not built: ${signal.reason.message}\n`);
      const code = 'DependencyFailed';
      return endedWithoutBuild(req, 'failed', code, signal.reason.message);
    }
    if (signal.reason instanceof CancelRequested) {
      log.write(`cancelled by ${signal.reason.by} before it started\n`);
      return endedWithoutBuild(
        req,
        'cancelled',
        'BuildCancelled',
        `cancelled by ${signal.reason.by} before it started`,
      );
    }
    // Built on a builder host, which ran the `started` hooks: here it is only published.
    const builtOn = record.journal().built?.host;
    // A promotion only publishes: a builder host hands it on untouched, and its hooks run where it is done.
    const handsOn = Boolean(req.promote) && !config.daemon.publish;
    const what = req.promote ? `promote ${req.promote.version} from ${req.promote.from}` : req.commit.slice(0, 12);
    say(
      `build ${req.id}: ${req.package} ${what} -> ${req.pocket}: ${builtOn ? `built on ${builtOn}, publishing` : handsOn ? 'for the publishing daemon' : 'started'}`,
    );
    await audit.append({
      type: 'build.claimed',
      actor: 'daemon',
      build: req.id,
      data: {
        pocket: req.pocket,
        package: req.package,
        commit: req.commit,
        principal: req.principal,
        pid: process.pid,
      },
    });
    if (!builtOn && !handsOn) await fireHooks(config, 'started', req, record, undefined, log, audit);
    const result = await runBuild(req, { config, repo, audit, signal, say }, record, log);
    return signal.reason instanceof ShuttingDown ? null : result;
  };

  /**
   * A full disk is the builder's trouble, not the request's: it is not ended but stays queued.
   * Thrown out of the worker, the daemon gives the claim back after a pause, as for any worker
   * that fails outright, so a disk still full is not met again at once.
   */
  const staysQueued = (why: string): never => {
    throw new PocketbuildError('DiskFull', why);
  };

  const work = async (claim: Claim, signal: AbortSignal): Promise<void> => {
    // The configuration as it is now, for the whole of this request: a reload (SIGHUP) while it
    // builds changes what later requests get, never the policy, limits or hooks of this one.
    const config = structuredClone(live);
    const req = claim.request;
    const record = new BuildRecord(config.state_dir, req.id);
    record.begin(req);
    const limited = new AbortController();
    const log = new CappedLog(record.openLog(), config.limits.log_mb * 1024 * 1024, (e) => limited.abort(e));
    let logEnded: Promise<void> | undefined;
    const endLog = () => (logEnded ??= new Promise<void>((resolve) => log.end(resolve)));
    signal = AbortSignal.any([signal, limited.signal]);
    const began = new Date().toISOString();
    // A result on record: a daemon ended this request and died before it left the queue.
    const ended = record.result();
    if (ended) log.write(`resume: ${req.id} ended (${ended.status}) before the daemon stopped; finishing it\n`);
    // It ended, but what it said is lost: worked out again, without auditing or notifying twice.
    const lostResult = ended ? null : record.damage('result.json');
    if (lostResult)
      log.write(`resume: ${req.id}'s result.json is damaged (${lostResult}); working its outcome out again\n`);
    let result: BuildResult | null | typeof HANDED_OFF;
    try {
      await announcing.get(req.id); // so that recipients get "submitted" before "started" or "cancelled"
      result = ended ?? (await runOrSayWhy(config, req, record, log, signal));
    } catch (e) {
      // Something around the build failed (the audit log, a record file, the hooks runner).
      // Left claimed, the request would look "running" until the daemon restarts and then
      // fail again the same way: end it as failed, saying why, so the submitter sees it.
      const known = asKnownError(e);
      say(`build ${req.id}: ${known ? `${known.code}: ${errorLine(e)}` : `internal error: ${errorLine(e)}`}`);
      log.write(`\n!!! ${known ? known.message : `internal error: ${(e as Error)?.stack ?? errorLine(e)}`}\n`);
      result = known
        ? endedWithoutBuild(req, outcome(known.code).status ?? 'failed', known.code, known.message, began)
        : endedWithoutBuild(
            req,
            'failed',
            'InternalError',
            `pocketbuild could not finish the build: ${errorLine(e)}; the daemon's log has the details.`,
            began,
          );
    }
    try {
      // Another daemon took the request over (our claim looked stale to it): it is that
      // daemon's to build and end now. Ending it here too would end it twice.
      if (claim.lost.aborted) {
        say(`build ${req.id}: ${errorLine(claim.lost.reason)}; leaving the request to it`);
        log.write(`\n${errorLine(claim.lost.reason)}; this daemon stopped and leaves the request to it\n`);
        return;
      }
      if (result === HANDED_OFF) {
        say(`build ${req.id}: built; handed to the publishing daemon`);
        await endLog();
        await claim.handOff(os.hostname());
        return;
      }
      if (result === null) {
        log.write('daemon shutting down: the request stays queued and will be built again\n');
        await claim.release();
        return;
      }
      if (result.code === 'DiskFull') staysQueued(result.reason ?? 'the disk is full');
      const secs = ((Date.parse(result.finished) - Date.parse(result.started)) / 1000).toFixed(1);
      say(
        `build ${req.id}: ${req.package} ${result.version ?? ''} -> ${req.pocket}: ${result.status} in ${secs} s${result.reason ? `: ${result.reason}` : ''}`,
      );
      try {
        await finishRequest(config, audit, req, record, result, log, {
          resumed: result === ended || lostResult !== null,
        });
      } catch (e) {
        if (!record.result() && outcomeCodeOf(e) === 'DiskFull')
          staysQueued(`its end (${result.status}) cannot be recorded: ${errorLine(e)}`);
        // The result is what matters to the submitter; without it the request would be built again.
        say(`build ${req.id}: could not finish it (audit log or hooks): ${errorLine(e)}`);
        if (!record.result()) record.finish(result);
      }
      // The log is whole before the request leaves the queue: `log --follow` stops at that.
      await endLog();
      await claim
        .finish()
        .catch((err: unknown) =>
          say(`build ${req.id}: could not remove the request from the queue: ${errorLine(err)}`),
        );
    } finally {
      await endLog();
    }
  };
  /** Whether a request of a batch may build now (see Daemon's `dependencies`). */
  const dependencies = (req: Request, isQueued: (id: string) => boolean) =>
    dependencyState(live.state_dir, req, isQueued);
  return { work, onQueued, dependencies };
}
