import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Config, PocketConfig } from '../config/types.js';
import type { Request } from '../queue/request.js';
import { BuildRecord, type BuildResult, type FinalStatus, type StageTiming } from '../record/build-record.js';
import { AptRepository } from '../publish/reprepro.js';
import { isDescendant, readRef, shortOid } from '../git/resolve.js';
import { moveBranch, createTag } from '../git/refs.js';
import { compareVersions, mangleVersionForGitTag } from '../debian/version.js';
import { PocketbuildError, errorLine, isPocketbuildError, outcomeCodeOf } from '../util/errors.js';
import { outcome, OUTCOMES, type CodeWithStatus } from '../util/outcomes.js';
import { identifySource, prepareSource, type SourceIdentity } from '../steps/source-package.js';
import { ensureBaseImage, type BaseImage } from '../steps/base-image.js';
import { fetchBuildDeps, type ResolvedDeb } from '../steps/build-deps.js';
import { checkOutputs, type CheckedOutputs } from '../steps/outputs.js';
import { runSandbox, sandboxProblem } from '../sandbox/index.js';
import type { AuditLog } from '../record/audit-log.js';
import { decide } from '../acl/index.js';
import { LogLimitExceeded } from '../record/capped-log.js';
import { BUILD_PATH, SANDBOX_SCRIPT } from '../steps/sandbox-script.js';
import { limitFailure } from '../steps/limit-failure.js';
import { failureLines } from '../steps/failure-reason.js';
import { makeStatement, signStatement } from '../record/provenance.js';
import { provenanceDigest, provenancePath, publishedProvenancePath } from '../record/provenance-file.js';
import { ensureBuilderKey } from '../record/builder-key.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { VERSION } from '../util/version.js';

export interface BuildEnvironment {
  config: Config;
  repo: AptRepository;
  audit: AuditLog;
  /** Cancellation or a lost claim. */
  signal: AbortSignal;
}

/** A refusal by policy, decided before anything is built: the build ends `denied` (only codes whose status is denied). */
export class Refused extends PocketbuildError {
  constructor(code: CodeWithStatus<'denied'>, message: string, data: Record<string, unknown> = {}) {
    super(code, message, data);
  }
}

/** A build that ended otherwise than it should: its status is its code's (failed, timeout or cancelled). */
export class BuildFailed extends PocketbuildError {
  readonly status: FinalStatus;

  constructor(message: string, code: CodeWithStatus<'failed' | 'timeout' | 'cancelled'> = 'BuildFailed') {
    super(code, message);
    this.status = OUTCOMES[code].status;
  }
}

interface State {
  req: Request;
  pocket: PocketConfig;
  gitdir: string;
  record: BuildRecord;
  log: Writable;
  work: string;
  source?: SourceIdentity;
  base?: BaseImage;
  deps?: ResolvedDeb[];
  outputs?: CheckedOutputs;
  /** What the build step ran dpkg-buildpackage with. */
  buildEnv?: { DEB_BUILD_OPTIONS: string; DEB_BUILD_PROFILES?: string };
  /** Parts of the build stage, from the sandbox script's marks (build.install, build.compile...). */
  substages: StageTiming[];
  /** RFC 3339 UTC, when the build began (provenance startedOn). */
  started: string;
}

type Step = { name: string; run: (s: State, env: BuildEnvironment) => Promise<void> };

/**
 * One build, as an ordered list of named steps. Each step either is safe to repeat or notes
 * in the journal that it happened, so a daemon killed anywhere and restarted on the same
 * request finishes it exactly once: after `publish` is journalled, a restart only moves refs.
 */
const STEPS: Step[] = [
  { name: 'validate', run: validate },
  { name: 'export', run: exportStep },
  { name: 'base', run: baseStep },
  { name: 'deps', run: depsStep },
  { name: 'build', run: buildStep },
  { name: 'check', run: checkStep },
  { name: 'provenance', run: provenanceStep },
  { name: 'publish', run: publishStep },
  { name: 'refs', run: refsStep },
];

export async function runBuild(
  req: Request,
  env: BuildEnvironment,
  record: BuildRecord,
  log: Writable,
): Promise<BuildResult> {
  const started = new Date().toISOString();
  const stages: StageTiming[] = [];
  const pocket = env.config.pockets[req.pocket];
  const s: State = {
    req,
    pocket: pocket!,
    gitdir: path.join(env.config.repos_dir, `${req.package}.git`),
    record,
    log,
    work: path.join(env.config.state_dir, 'work', req.id),
    substages: [],
    started,
  };
  const journal = record.journal();
  const result = (status: FinalStatus, extra: Partial<BuildResult> = {}): BuildResult => ({
    id: req.id,
    pocket: req.pocket,
    package: req.package,
    commit: req.commit,
    principal: req.principal,
    status,
    started,
    finished: new Date().toISOString(),
    stages,
    version: s.source?.changelog.version ?? journal.published?.version,
    outputs: s.outputs?.files ?? [],
    base_digest: s.base?.digest,
    build_deps: s.deps?.map(({ name, version, arch, sha256, file }) => ({ name, version, arch, sha256, file })),
    ...extra,
  });
  try {
    fs.rmSync(s.work, { recursive: true, force: true });
    fs.mkdirSync(s.work, { recursive: true });
    const resumeAt = journal.published ? STEPS.findIndex((x) => x.name === 'refs') : 0;
    if (resumeAt > 0)
      log.write(`resume: ${req.id} was already published (${journal.published!.version}); finishing the ref moves\n`);
    await runSteps(STEPS.slice(resumeAt), s, env, stages);
    if (!s.outputs) s.outputs = { changes: '', files: await record.outputsOnDisk() }; // resumed after publish
    return result('succeeded');
  } catch (e) {
    // The code says how the build ended (Refused codes end it denied, BuildFailed's failed, timeout or cancelled).
    const code = outcomeCodeOf(e);
    const status: FinalStatus = outcome(code).status ?? 'failed';
    log.write(`\n!!! ${status}: ${errorLine(e)}\n`);
    if (!isPocketbuildError(e)) log.write(`${(e as Error).stack ?? e}\n`);
    return result(status, { code, reason: errorLine(e) });
  } finally {
    fs.rmSync(s.work, { recursive: true, force: true });
  }
}

/**
 * Run steps in order, timing each, and note each finished step in the audit log; stops
 * between steps when the build is cancelled.
 */
export async function runSteps(
  steps: Step[],
  s: State,
  env: BuildEnvironment,
  stages: StageTiming[],
  kind: 'build' | 'rebuild' = 'build',
): Promise<void> {
  for (const step of steps) {
    if (env.signal.aborted) throw stopped(env.signal.reason, `before ${step.name}`);
    const t0 = Date.now();
    s.log.write(`\n==> ${step.name} (${new Date().toISOString()})\n`);
    await step.run(s, env);
    const ms = Date.now() - t0;
    stages.push({ name: step.name, ms });
    if (step.name === 'build') stages.push(...s.substages);
    await env.audit.append({
      type: 'build.stage',
      actor: 'daemon',
      build: s.req.id,
      data: { kind, stage: step.name, ms },
    });
    // Failpoint for the crash-recovery tests: die as a power cut would, right after a step.
    if (process.env.POCKETBUILD_TEST_CRASH_AFTER === step.name) process.kill(process.pid, 'SIGKILL');
    s.log.write(`<== ${step.name}: ${(ms / 1000).toFixed(2)} s\n`);
  }
}

/** The steps a rebuild shares with a build: everything between knowing the source and checking what came out. */
export const SHARED_STEPS = { export: exportStep, build: buildStep, check: checkStep };
export type { State as BuildState, Step as BuildStep };

/** A build stopped from outside the steps: by its own log's size (failed), else by a cancel. */
function stopped(reason: unknown, when: string): BuildFailed {
  if (reason instanceof LogLimitExceeded) return new BuildFailed(`${reason.message} ${when}`, 'LogLimitExceeded');
  return new BuildFailed(`${errorLine(reason)}, ${when}`, 'BuildCancelled');
}

async function validate(s: State, env: BuildEnvironment): Promise<void> {
  const { req } = s;
  if (!s.pocket) throw new Refused('UnknownPocket', `pocket ${req.pocket} is no longer in the configuration.`);
  const sandboxMissing = sandboxProblem(s.pocket.sandbox);
  if (sandboxMissing)
    throw new PocketbuildError(
      'SandboxUnavailable',
      `pocket ${req.pocket} asks for the ${s.pocket.sandbox} sandbox, but ${sandboxMissing}`,
    );
  // The config may have changed since the request was accepted: a principal removed from
  // the pocket's ACL meanwhile gets a denied build, not a published one. (Requests from the
  // local CLI come from whoever can write the queue directly, so they are not re-checked.)
  if (req.origin !== 'cli') {
    const d = await decide(env.config, req.principal, { kind: 'build', pocket: req.pocket });
    if (!d.allowed)
      throw new Refused('AccessDenied', `${d.reason}; the ACL changed after the request was accepted.`, {
        principal: req.principal,
      });
  }
  if (!fs.existsSync(s.gitdir))
    throw new Refused(
      'UnknownPackage',
      `package repository ${req.package}.git no longer exists in ${env.config.repos_dir}.`,
    );
  s.source = await identifySource(s.gitdir, req.commit, req.package);
  const version = s.source.changelog.version;
  s.log.write(`source: ${s.source.changelog.source} ${version}, ${s.source.format}, commit ${req.commit}\n`);
  if (s.pocket.allow_backtracking) {
    s.log.write(`policy: pocket ${s.pocket.name} allows backtracking; ancestry and version order are not enforced\n`);
    return;
  }
  const branch = await readRef(s.gitdir, `refs/heads/${s.pocket.name}`);
  if (branch && !(await isDescendant(s.gitdir, req.commit, branch))) {
    throw new Refused(
      'NotFastForward',
      `commit ${shortOid(req.commit)} does not descend from ${shortOid(branch)}, where pocket ${s.pocket.name} of ${req.package} stands, and ${s.pocket.name} does not allow backtracking; build on top of it, or use a pocket with allow_backtracking.`,
      { branch },
    );
  }
  const published = await env.repo.publishedVersion(s.pocket.suite, s.source.changelog.source);
  if (published && compareVersions(version, published) <= 0) {
    throw new Refused(
      'VersionNotNewer',
      `${req.package} ${version} is not newer than ${published}, which pocket ${s.pocket.name} already publishes; add a new debian/changelog entry.`,
      { published, version },
    );
  }
  s.log.write(
    `policy: fast-forward from ${branch ? shortOid(branch) : '(no branch yet)'}; ${version} > ${published ?? '(nothing published)'}\n`,
  );
}

async function exportStep(s: State): Promise<void> {
  await prepareSource(s.gitdir, s.req.commit, s.source!, s.work, s.log);
}

async function baseStep(s: State, env: BuildEnvironment): Promise<void> {
  s.base = await ensureBaseImage({
    cacheDir: path.join(env.config.cache_dir, 'base'),
    suite: env.config.archive.suite,
    mirror: env.config.archive.mirror,
    log: s.log,
  });
  s.log.write(`base: ${env.config.archive.suite}, sha256 ${s.base.digest}\n`);
}

async function depsStep(s: State, env: BuildEnvironment): Promise<void> {
  const aptDir = env.repo.dir;
  s.deps = await fetchBuildDeps({
    baseRoot: s.base!.root,
    sourceDir: path.join(s.work, 'in', `${s.source!.changelog.source}-${s.source!.upstreamVersion}`),
    cacheDir: path.join(env.config.cache_dir, 'apt'),
    sources: [
      {
        uri: env.config.archive.mirror,
        suite: env.config.archive.suite,
        components: env.config.archive.components,
        signedBy: path.join(s.base!.root, 'usr/share/keyrings/debian-archive-keyring.gpg'),
      },
      { uri: `file:${aptDir}`, suite: s.pocket.suite, components: ['main'], signedBy: path.join(aptDir, 'key.gpg') },
    ],
    extra: s.source!.needsFakeroot ? ['fakeroot'] : [],
    profiles: buildProfiles(s.pocket),
    destDir: path.join(s.work, 'debs'),
    whileReadingSources: (fn) => env.repo.whilePublishingPaused(fn),
    log: s.log,
    timeoutMs: 30 * 60_000,
  });
  for (const d of s.deps) s.log.write(`  ${d.name} ${d.version} ${d.arch} sha256:${d.sha256}\n`);
}

async function buildStep(s: State, env: BuildEnvironment): Promise<void> {
  const out = path.join(s.work, 'out');
  fs.mkdirSync(out);
  const lim = env.config.limits;
  const profiles = buildProfiles(s.pocket);
  s.buildEnv = {
    DEB_BUILD_OPTIONS: debBuildOptions(s.pocket.deb_build_options, env.config.daemon.slots),
    ...(profiles.length ? { DEB_BUILD_PROFILES: profiles.join(' ') } : {}),
  };
  s.log.write(
    `build: DEB_BUILD_OPTIONS="${s.buildEnv.DEB_BUILD_OPTIONS}"${s.buildEnv.DEB_BUILD_PROFILES ? ` DEB_BUILD_PROFILES="${s.buildEnv.DEB_BUILD_PROFILES}"` : ''}\n`,
  );
  const r = await runSandbox(s.pocket.sandbox, {
    base: s.base!.root,
    scratch: path.join(s.work, 'scratch'),
    binds: [
      { host: path.join(s.work, 'in'), inside: '/in' },
      { host: path.join(s.work, 'debs'), inside: '/debs' },
      { host: out, inside: '/out', writable: true },
    ],
    argv: [
      'sh',
      '-c',
      SANDBOX_SCRIPT,
      'pocketbuild-build',
      `${s.source!.changelog.source}-${s.source!.upstreamVersion}`,
      s.source!.needsFakeroot ? 'fakeroot' : '',
      s.pocket.suite,
    ],
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      LC_ALL: 'C.UTF-8',
      SOURCE_DATE_EPOCH: String(s.source!.changelog.timestamp),
      ...s.buildEnv,
    },
    limits: {
      timeoutMs: lim.build_timeout_seconds * 1000,
      diskMb: lim.disk_mb,
      processes: lim.processes,
      memoryMb: lim.memory_mb,
      cpuSeconds: lim.cpu_seconds,
    },
    log: s.log,
    signal: env.signal,
    cacheDir: env.config.cache_dir,
    baseDigest: s.base!.digest,
  });
  if (r.timedOut) throw new BuildFailed(`the build ${r.how} (limits.build_timeout_seconds)`, 'BuildTimedOut');
  if (r.cancelled) throw stopped(env.signal.reason, `while building (${r.how})`);
  if (r.code !== 0) {
    const limit = limitFailure(`${r.stdout}\n${r.stderr}`, lim);
    if (limit) throw new BuildFailed(`the build in the sandbox ${r.how}: ${limit.message}`, limit.code);
    const why = failureLines(`${r.stdout}\n${r.stderr}`);
    throw new BuildFailed(`the build in the sandbox ${r.how}: ${why || 'the end of build.log says why'}`);
  }
  s.substages.push(...splitByMarks(r.stdout, Date.now()));
  s.log.write(
    `build: finished in ${BUILD_PATH} (${s.substages.map((x) => `${x.name} ${(x.ms / 1000).toFixed(2)} s`).join(', ')})\n`,
  );
}

/**
 * The pocket's DEB_BUILD_OPTIONS, plus `parallel=N` for the CPUs one build slot may use
 * (Debian's buildds set it the same way), unless the pocket sets parallel itself.
 */
export function debBuildOptions(pocketOptions: string, slots: number, cpus = os.availableParallelism()): string {
  const words = pocketOptions.split(/\s+/).filter(Boolean);
  if (!words.some((w) => w.startsWith('parallel='))) words.push(`parallel=${Math.max(1, Math.floor(cpus / slots))}`);
  return words.join(' ');
}

/**
 * Build profiles: none, as on Debian's buildds, except that a pocket skipping tests
 * (`nocheck`) also drops the test-only build-dependencies (`<!nocheck>`), as
 * dpkg-buildpackage(1) recommends setting both together.
 */
export function buildProfiles(pocket: { deb_build_options: string }): string[] {
  return pocket.deb_build_options.split(/\s+/).includes('nocheck') ? ['nocheck'] : [];
}

/** `pocketbuild-mark: NAME EPOCH_MS` lines → the time between consecutive marks, as build.NAME. */
export function splitByMarks(output: string, endMs: number): StageTiming[] {
  const marks = [...output.matchAll(/^pocketbuild-mark: (\w+) (\d+)$/gm)].map((m) => ({
    name: m[1]!,
    at: Number(m[2]),
  }));
  return marks.map((m, i) => ({ name: `build.${m.name}`, ms: Math.max(0, (marks[i + 1]?.at ?? endMs) - m.at) }));
}

async function checkStep(s: State, env: BuildEnvironment): Promise<void> {
  const out = path.join(s.work, 'out');
  s.outputs = await checkOutputs(out, {
    source: s.source!.changelog.source,
    version: s.source!.changelog.version,
    maxBytes: env.config.limits.disk_mb * 1024 * 1024,
  });
  fs.rmSync(s.record.outputsDir, { recursive: true, force: true });
  fs.mkdirSync(s.record.outputsDir, { recursive: true });
  for (const f of s.outputs.files) {
    fs.copyFileSync(path.join(out, f.file), path.join(s.record.outputsDir, f.file));
    s.log.write(`  ${f.sha256}  ${f.file} (${f.size} bytes)\n`);
  }
}

/** Sign what was built from what, before it is published (README.md, "Provenance, verify, rebuild"). */
async function provenanceStep(s: State, env: BuildEnvironment): Promise<void> {
  const { config } = env;
  const statement = makeStatement({
    req: s.req,
    version: s.source!.changelog.version,
    tree: s.source!.tree,
    sourceDateEpoch: s.source!.changelog.timestamp,
    buildPath: BUILD_PATH,
    sandbox: s.pocket.sandbox,
    limits: { ...config.limits },
    debBuildOptions: s.buildEnv!.DEB_BUILD_OPTIONS,
    debBuildProfiles: s.buildEnv!.DEB_BUILD_PROFILES ?? '',
    baseDigest: s.base!.digest,
    baseSuite: config.archive.suite,
    deps: s.deps!.map(({ name, version, arch, sha256 }) => ({ name, version, arch, sha256 })),
    outputs: s.outputs!.files,
    builderId: config.builder.id,
    builderVersion: VERSION,
    startedOn: s.started,
    finishedOn: new Date().toISOString(),
    repositoryUri: `${config.builder.id.replace(/\/+$/, '')}/repos/${s.req.package}.git`,
  });
  const envelope = signStatement(statement, ensureBuilderKey(config.state_dir));
  writeFileAtomic(provenancePath(s.record), JSON.stringify(envelope) + '\n');
  const digest = provenanceDigest(s.record)!;
  s.log.write(
    `provenance: ${statement.subject.length} subjects, ${statement.predicate.buildDefinition.resolvedDependencies.length} resolved dependencies, sha256 ${digest.sha256}\n`,
  );
}

async function publishStep(s: State, env: BuildEnvironment): Promise<void> {
  const version = s.source!.changelog.version;
  await env.repo.include(s.pocket.suite, path.join(s.record.outputsDir, s.outputs!.changes), {
    replace: s.pocket.allow_backtracking,
    log: s.log,
  });
  // After the packages, before the journal says published: a crash in between repeats both.
  const published = publishedProvenancePath(env.repo.dir, s.req.package, version, s.req.id);
  fs.mkdirSync(path.dirname(published), { recursive: true });
  writeFileAtomic(published, fs.readFileSync(provenancePath(s.record)));
  s.record.note({ published: { version, suite: s.pocket.suite } });
  await env.audit.append({
    type: 'publish',
    actor: 'daemon',
    build: s.req.id,
    data: { pocket: s.pocket.name, suite: s.pocket.suite, package: s.req.package, version, outputs: s.outputs!.files },
  });
  s.log.write(`publish: ${s.req.package} ${version} is in suite ${s.pocket.suite}\n`);
}

async function refsStep(s: State, env: BuildEnvironment): Promise<void> {
  const version = s.source?.changelog.version ?? s.record.journal().published!.version;
  const before = await readRef(s.gitdir, `refs/heads/${s.pocket.name}`);
  await moveBranch(s.gitdir, s.pocket.name, s.req.commit);
  await env.audit.append({
    type: 'ref.moved',
    actor: 'daemon',
    build: s.req.id,
    data: { package: s.req.package, ref: `refs/heads/${s.pocket.name}`, from: before, to: s.req.commit },
  });
  s.log.write(`refs: refs/heads/${s.pocket.name} -> ${s.req.commit}\n`);
  if (!s.pocket.allow_backtracking) {
    const tag = `${s.pocket.name}/${mangleVersionForGitTag(version)}`;
    await createTag(s.gitdir, tag, s.req.commit);
    await env.audit.append({
      type: 'ref.moved',
      actor: 'daemon',
      build: s.req.id,
      data: { package: s.req.package, ref: `refs/tags/${tag}`, from: null, to: s.req.commit },
    });
    s.log.write(`refs: tag ${tag}\n`);
  }
  s.record.note({ refs_moved: true });
}
