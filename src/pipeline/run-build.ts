import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { configuredPocket, type PocketConfig } from '../config/types.js';
import { requestKey, type Request } from '../queue/request.js';
import type { BuildRecord, BuildResult, FinalStatus, StageTiming } from '../record/build-record.js';
import { asKnownError, diskFullError, diskIsFull, errorLine } from '../util/errors.js';
import { outcome } from '../util/outcomes.js';
import type { BuildEnvironment, BuildState, BuildStep } from './build-state.js';
import {
  baseStep,
  buildStep,
  checkStep,
  crossStep,
  depsStep,
  exportStep,
  noteBuilt,
  provenanceStep,
  recordedCrossDeps,
  recordedDeps,
  publishStep,
  refsStep,
  resumePublish,
  validateStep,
} from './build-steps.js';
import { runSteps } from './run-steps.js';
import { attestStep, collectStep, validatePromotionStep } from './promote-steps.js';

/**
 * One build, as an ordered list of named steps. Each step either is safe to repeat or notes
 * in the journal that it happened, so a daemon killed anywhere and restarted on the same
 * request finishes it exactly once: after `publish` is journalled, a restart only moves refs.
 */
const STEPS: BuildStep[] = [
  { name: 'validate', run: validateStep },
  { name: 'export', run: exportStep },
  { name: 'base', run: baseStep },
  { name: 'deps', run: depsStep },
  { name: 'build', run: buildStep },
  { name: 'check', run: checkStep },
  { name: 'provenance', run: provenanceStep },
  { name: 'publish', run: publishStep },
  { name: 'refs', run: refsStep },
];

/**
 * A promotion builds nothing: it checks what FROM publishes, keeps and signs for the same
 * files, then publishes and moves refs as a build does, so it resumes after a crash the same way.
 */
const PROMOTE_STEPS: BuildStep[] = [
  { name: 'validate', run: validatePromotionStep },
  { name: 'collect', run: collectStep },
  { name: 'attest', run: attestStep },
  ...STEPS.slice(STEPS.findIndex((x) => x.name === 'publish')),
];

/** A pocket of several architectures cross-builds the others once the native build is checked. */
const CROSS_STEPS: BuildStep[] = STEPS.flatMap((x) =>
  x.name === 'check' ? [x, { name: 'cross', run: crossStep }] : [x],
);

const stepsOf = (req: Request, pocket: PocketConfig | undefined): BuildStep[] =>
  req.promote ? PROMOTE_STEPS : (pocket?.architectures.length ?? 1) > 1 ? CROSS_STEPS : STEPS;

/** A builder host's request is built (or was further along): the publishing daemon takes it from here. */
export const HANDED_OFF = 'handed-off';

/**
 * Where a request whose daemon died resumes: after publish once the suite holds it (noted in
 * the journal, or found there by resumePublish), past refs once they moved; at publish when a
 * builder host built it; else from the start. A builder host never goes past the hand-off:
 * anything further along (or a journal it cannot read) is the publishing daemon's to work out,
 * and so is a promotion, which only publishes.
 */
async function resumeAt(s: BuildState, env: BuildEnvironment, steps: BuildStep[]): Promise<number | typeof HANDED_OFF> {
  const damage = s.record.damage('journal.json');
  const before = s.record.journal();
  const built = before.built;
  if (!env.config.daemon.publish && (s.req.promote || damage || built || before.publishing || before.published))
    return HANDED_OFF;
  if (damage) {
    s.log.write(
      `resume: ${s.req.id}'s journal.json is damaged (${damage}); asking the suite and the audit log what was done\n`,
    );
    s.recovered = true;
  }
  const publish = steps.findIndex((x) => x.name === 'publish');
  if (built && !before.publishing && !before.published) {
    s.outputs = { changes: built.changes, files: await s.record.outputsOnDisk() };
    s.log.write(`publish: ${s.req.id} was built on ${built.host}; publishing it here\n`);
    return publish;
  }
  if (!before.published) await resumePublish(s, env);
  const { published, refs_moved } = s.record.journal();
  if (!published) return 0;
  if (refs_moved) {
    s.log.write(`resume: ${s.req.id} was already published (${published.version}) and its refs moved\n`);
    return steps.length;
  }
  s.log.write(`resume: ${s.req.id} was already published (${published.version}); finishing the ref moves\n`);
  return steps.findIndex((x) => x.name === 'refs');
}

/** What a daemon runs from `from` on: a builder host stops after the provenance and hands the build off. */
function stepsFrom(steps: BuildStep[], from: number, publishes: boolean): BuildStep[] {
  return publishes
    ? steps.slice(from)
    : steps.slice(
        from,
        steps.findIndex((x) => x.name === 'publish'),
      );
}

/**
 * Run a claimed request's steps and say how they ended. Never throws for the build's own
 * failures: they become the result's status, code and reason. On a builder host a build that
 * got through its provenance is HANDED_OFF: it has not ended, and stays queued for the publisher.
 */
export async function runBuild(
  req: Request,
  env: BuildEnvironment,
  record: BuildRecord,
  log: Writable,
): Promise<BuildResult | typeof HANDED_OFF> {
  const started = new Date().toISOString();
  const stages: StageTiming[] = [];
  const s: BuildState = {
    req,
    pocket: configuredPocket(env.config, req.pocket)!, // validate ends the build when it is gone
    gitdir: path.join(env.config.repos_dir, `${req.package}.git`),
    record,
    log,
    work: path.join(env.config.work_dir, req.id),
    substages: [],
    started,
  };
  const result = (status: FinalStatus, extra: Partial<BuildResult> = {}): BuildResult => {
    // Built on a builder host: its part of the build is recorded in the journal.
    const { built, published } = record.journal();
    return {
      ...requestKey(req),
      status,
      started: built?.started ?? started,
      finished: new Date().toISOString(),
      stages: [...(built?.stages ?? []), ...stages],
      version: s.source?.changelog.version ?? published?.version ?? req.promote?.version,
      outputs: s.outputs?.files ?? [],
      base_digest: s.base?.digest ?? built?.base_digest,
      build_deps: recordedDeps(s) ?? built?.build_deps,
      cross_deps: recordedCrossDeps(s) ?? built?.cross_deps,
      ...extra,
    };
  };
  try {
    fs.rmSync(s.work, { recursive: true, force: true });
    fs.mkdirSync(s.work, { recursive: true });
    const steps = stepsOf(req, s.pocket);
    const from = await resumeAt(s, env, steps);
    if (from === HANDED_OFF) return HANDED_OFF;
    await runSteps(stepsFrom(steps, from, env.config.daemon.publish), s, env, stages);
    if (!env.config.daemon.publish) {
      noteBuilt(s, stages);
      return HANDED_OFF;
    }
    if (!s.outputs) s.outputs = { changes: '', files: await record.outputsOnDisk() }; // resumed after publish
    return result('succeeded');
  } catch (e) {
    // The code says how the build ended (Refused codes end it denied, BuildFailed's failed, timeout or cancelled).
    // Whatever failed while a disk of the builder's was full (the state's, the scratch's or the
    // cache's: a tool, the sandbox, a write of ours) failed for that: the builder's fault, which
    // the worker retries, not the package's.
    const { state_dir, work_dir, cache_dir } = env.config;
    const known = [state_dir, work_dir, cache_dir].some(diskIsFull) ? diskFullError(e) : asKnownError(e);
    const code = known?.code ?? 'InternalError';
    const status: FinalStatus = outcome(code).status ?? 'failed';
    const reason = errorLine(known ?? e);
    log.write(`\n!!! ${status}: ${reason}\n`);
    if (known?.code === 'DiskFull') log.write(`(${errorLine(e)})\n`);
    if (!known) log.write(`${(e as Error).stack ?? e}\n`);
    return result(status, { code, reason });
  } finally {
    s.layer?.release();
    for (const c of s.cross ?? []) c.layer?.release();
    fs.rmSync(s.work, { recursive: true, force: true });
  }
}
