import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configuredPocket } from '../config/types.js';
import { readRef } from '../git/resolve.js';
import { moveBranch, createTag } from '../git/refs.js';
import { mangleVersionForGitTag } from '../debian/version.js';
import { promoteBuild, publishBuild, publishProvenance } from '../publish/publish-build.js';
import { exportedVersion } from '../publish/exported-index.js';
import { ensureBuilderKey } from '../record/builder-key.js';
import { makeStatement, signStatement } from '../record/provenance.js';
import { provenanceDigest, provenancePath } from '../record/provenance-file.js';
import { ensureBaseImage } from '../steps/base-image.js';
import { buildDirs, buildInSandbox, buildProfiles, crossToolchain } from '../steps/build-in-sandbox.js';
import { aptCacheDir, fetchBuildDeps, writeFlatIndex, type ResolvedDeb } from '../steps/build-deps.js';
import {
  depsLayerKey,
  LayerInUse,
  LayerStopped,
  makeDepsLayer,
  openDepsLayer,
  type DepsLayer,
} from '../steps/deps-layer.js';
import { checkOutputs } from '../steps/outputs.js';
import { crossSkipReason } from '../steps/cross-targets.js';
import { BUILD_PATH } from '../steps/sandbox-script.js';
import { prepareSource } from '../steps/source-package.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { faultPoint } from '../util/fault-point.js';
import type { BuildResult, OutputFile, StageTiming } from '../record/build-record.js';
import { VERSION } from '../util/version.js';
import { stopped, type BuildEnvironment, type BuildState } from './build-state.js';
import { validateRequest } from './validate.js';

/*
 * Each step hands the state what it needs to a step module (src/steps/, src/publish/), keeps
 * what it returns, and is where the build's record, journal and audit log are written: the
 * step modules themselves touch none of them.
 */

export async function validateStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  s.source = await validateRequest({
    config: env.config,
    req: s.req,
    pocket: configuredPocket(env.config, s.req.pocket),
    gitdir: s.gitdir,
    // A builder host reads what clients see; only the publishing host opens reprepro's database.
    publishedVersion: async (suite, source) =>
      env.config.daemon.publish
        ? env.repo.publishedVersion(suite, source)
        : exportedVersion(env.repo.dir, suite, source),
    log: s.log,
  });
}

export async function exportStep(s: BuildState): Promise<void> {
  await prepareSource(s.gitdir, s.req.commit, s.source!, s.work, s.log);
}

export async function baseStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  s.base = await ensureBaseImage({
    cacheDir: path.join(env.config.cache_dir, 'base'),
    suite: s.pocket.distribution,
    mirror: env.config.archive.mirror,
    log: s.log,
  });
  s.log.write(`base: ${s.pocket.distribution}, sha256 ${s.base.digest}\n`);
}

export async function depsStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const got = await installableDeps(s, env);
  s.deps = got.deps;
  s.layer = got.layer;
}

/**
 * The build-dependencies of the native build, or of a cross build to `crossArch`: resolved
 * against the pocket's release and the pocket itself, and either a cached layer holding them
 * (userns) or the .debs for the sandbox to install.
 */
async function installableDeps(
  s: BuildState,
  env: BuildEnvironment,
  crossArch?: string,
): Promise<{ deps: ResolvedDeb[]; layer?: DepsLayer }> {
  const aptDir = env.repo.dir;
  const debsDir = buildDirs(s.work, crossArch).debs;
  // Only the userns sandbox mounts layers; a vm pocket installs the .debs in its guest.
  const place =
    s.pocket.sandbox === 'userns'
      ? { dir: path.join(env.config.cache_dir, 'layers'), log: s.log, user: s.req.id }
      : null;
  const keyOf = (deps: ResolvedDeb[]) => depsLayerKey(s.base!.digest, deps, crossArch);
  let layer: DepsLayer | undefined;
  const resolved = await fetchBuildDeps({
    baseRoot: s.base!.root,
    sourceDir: exportedTree(s),
    cacheDir: aptCacheDir(env.config, s.pocket.distribution, crossArch),
    sources: [
      {
        uri: env.config.archive.mirror,
        suite: s.pocket.distribution,
        components: env.config.archive.components,
        signedBy: path.join(s.base!.root, 'usr/share/keyrings/debian-archive-keyring.gpg'),
      },
      { uri: `file:${aptDir}`, suite: s.pocket.suite, components: ['main'], signedBy: path.join(aptDir, 'key.gpg') },
    ],
    extra: [...(s.source!.needsFakeroot ? ['fakeroot'] : []), ...(crossArch ? crossToolchain(crossArch) : [])],
    profiles: buildProfiles(s.pocket, crossArch),
    ...(crossArch ? { crossArch } : {}),
    destDir: debsDir,
    whileReadingSources: (fn) => env.repo.whilePublishingPaused(fn),
    listsMaxAgeMs: env.config.archive.lists_max_age_seconds * 1000,
    log: s.log,
    timeoutMs: 30 * 60_000,
    ...(place && {
      needFiles: async (indexed) => {
        if (!indexed.length) return true;
        layer = (await layerOrNothing(env.signal, () => openDepsLayer(place, keyOf(indexed)))) ?? undefined;
        return !layer;
      },
    }),
  });
  let deps = resolved;
  if (layer) {
    // The build's apt checks against this index that the layer holds every build-dependency.
    writeFlatIndex(debsDir, layer.packages);
    deps = layer.deps;
  } else if (place && resolved.length)
    layer =
      (await layerOrNothing(env.signal, () =>
        makeDepsLayer({
          ...place,
          key: keyOf(resolved),
          base: s.base!,
          debsDir,
          deps: resolved,
          limits: env.config.limits,
          cacheDir: env.config.cache_dir,
          signal: env.signal,
          maxBytes: env.config.cache.layers_max_mb * 1024 * 1024,
          ...(crossArch ? { crossArch } : {}),
        }),
      )) ?? undefined;
  for (const d of deps) s.log.write(`  ${d.name} ${d.version} ${d.arch} sha256:${d.sha256}\n`);
  return { deps, ...(layer ? { layer } : {}) };
}

/** A damaged layer that running builds still mount is left to them: this build installs its own set. */
async function layerOrNothing(signal: AbortSignal, get: () => Promise<DepsLayer | null>): Promise<DepsLayer | null> {
  try {
    return await get();
  } catch (e) {
    if (e instanceof LayerInUse) return null;
    if (e instanceof LayerStopped) throw stopped(signal.reason, `while installing the build-dependencies (${e.how})`);
    throw e;
  }
}

export async function buildStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const r = await sandboxBuild(s, env, s.layer);
  s.buildEnv = r.buildEnv;
  s.substages.push(...r.substages);
}

/** The build in the pocket's sandbox over the base and `layer`: the native one, or a cross build to `crossArch`. */
async function sandboxBuild(s: BuildState, env: BuildEnvironment, layer: DepsLayer | undefined, crossArch?: string) {
  const r = await buildInSandbox({
    pocket: s.pocket,
    limits: env.config.limits,
    slots: env.config.daemon.slots,
    cacheDir: env.config.cache_dir,
    source: s.source!,
    base: s.base!,
    layers: layer ? [layer.root] : [],
    work: s.work,
    log: s.log,
    signal: env.signal,
    ...(crossArch ? { crossArch } : {}),
  });
  if (r.ended === 'stopped')
    throw stopped(env.signal.reason, `while ${crossArch ? `cross-building for ${crossArch}` : 'building'} (${r.how})`);
  return r;
}

/** What the checked .changes must be for: this build's source and version, within the disk limit. */
function expectedOutputs(s: BuildState, env: BuildEnvironment) {
  return {
    source: s.source!.changelog.source,
    version: s.source!.changelog.version,
    maxBytes: env.config.limits.disk_mb * 1024 * 1024,
  };
}

function keepOutputs(s: BuildState, from: string, files: OutputFile[]): void {
  for (const f of files) {
    fs.copyFileSync(path.join(from, f.file), path.join(s.record.outputsDir, f.file));
    s.log.write(`  ${f.sha256}  ${f.file} (${f.size} bytes)\n`);
  }
}

/** Checked outputs are copied into the build's record, which is what publishing and `verify` read. */
export async function checkStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const out = path.join(s.work, 'out');
  s.outputs = await checkOutputs(out, expectedOutputs(s, env));
  fs.rmSync(s.record.outputsDir, { recursive: true, force: true });
  fs.mkdirSync(s.record.outputsDir, { recursive: true });
  keepOutputs(s, out, s.outputs.files);
  const left = s.outputs.leftOut ?? [];
  if (left.length)
    s.log.write(
      `check: ${left.length} other files the build left are not named by ${s.outputs.changes} and are not kept (${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''})\n`,
    );
}

/**
 * The pocket's architectures other than the host's, each cross-built after the native build
 * (docs/architectures.md): its own build-dependencies (the host's tools, that architecture's
 * libraries), then `dpkg-buildpackage -B -a ARCH` in the sandbox, whose .changes is checked
 * like the native one. A source with nothing architecture-specific for it builds nothing.
 */
export async function crossStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  for (const arch of await crossArchitectures(s)) {
    s.log.write(`cross ${arch}: build-dependencies for ${arch}\n`);
    const got = await installableDeps(s, env, arch);
    (s.cross ??= []).push({ arch, ...got });
    await crossBuild(s, env, arch);
  }
}

/** The exported source tree (debian/ at its root), as the export step left it under `in/`. */
function exportedTree(s: BuildState): string {
  return path.join(s.work, 'in', `${s.source!.changelog.source}-${s.source!.upstreamVersion}`);
}

/** The pocket's other architectures the source has architecture-specific packages for. */
export async function crossArchitectures(s: BuildState): Promise<string[]> {
  const sourceDir = exportedTree(s);
  const out: string[] = [];
  for (const arch of s.pocket.architectures.slice(1)) {
    const skip = await crossSkipReason(sourceDir, arch);
    if (skip) s.log.write(`cross ${arch}: ${skip}; nothing to cross-build\n`);
    else out.push(arch);
  }
  return out;
}

/**
 * Cross-build for `arch` with the build-dependencies in `debs-ARCH/` (and the layer noted in
 * `s.cross`, if any), check its .changes, and add its files to the build's outputs.
 */
export async function crossBuild(s: BuildState, env: BuildEnvironment, arch: string): Promise<void> {
  const r = await sandboxBuild(s, env, s.cross?.find((c) => c.arch === arch)?.layer, arch);
  const checked = await checkOutputs(r.outDir, { ...expectedOutputs(s, env), architectures: [arch] });
  keepOutputs(s, r.outDir, checked.files);
  s.outputs = {
    ...s.outputs!,
    files: [...s.outputs!.files, ...checked.files].sort((a, b) => a.file.localeCompare(b.file)),
  };
}

/** Sign what was built from what, before it is published (README.md, "Provenance, verify, rebuild"). */
export async function provenanceStep(s: BuildState, env: BuildEnvironment): Promise<void> {
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
    baseSuite: s.pocket.distribution,
    deps: allDeps(s).map(({ name, version, arch, sha256 }) => ({ name, version, arch, sha256 })),
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

/** Every .deb installed for the native build and the cross builds, each file once. */
function allDeps(s: BuildState): ResolvedDeb[] {
  const seen = new Set<string>();
  return [...s.deps!, ...(s.cross ?? []).flatMap((c) => c.deps)].filter(
    (d) => !seen.has(d.sha256) && seen.add(d.sha256),
  );
}

/** The version being published: from the source, or from the journal of a build handed over by a builder host. */
function versionOf(s: BuildState): string {
  return s.source?.changelog.version ?? s.promotion?.version ?? s.record.journal().built!.version;
}

/** The build-dependencies as the result records them (what `rebuild` installs again). */
export function recordedDeps(s: BuildState): BuildResult['build_deps'] {
  return s.deps?.map(recorded);
}

/** Those of the cross builds, by architecture; undefined for a build of the host's alone. */
export function recordedCrossDeps(s: BuildState): BuildResult['cross_deps'] {
  return s.cross?.length ? Object.fromEntries(s.cross.map((c) => [c.arch, c.deps.map(recorded)])) : undefined;
}

const recorded = ({ name, version, arch, sha256, file }: ResolvedDeb) => ({ name, version, arch, sha256, file });

/**
 * On a builder host (daemon.publish false) the build ends here for now: its outputs and
 * provenance are whole on the shared state, and the journal says so with what the result will
 * record; the publishing daemon takes it from the journal, so nothing before publish runs again.
 */
export function noteBuilt(s: BuildState, stages: StageTiming[]): void {
  s.record.note({
    built: {
      version: versionOf(s),
      changes: s.outputs!.changes,
      host: os.hostname(),
      started: s.started,
      stages,
      base_digest: s.base?.digest,
      build_deps: recordedDeps(s),
      cross_deps: recordedCrossDeps(s),
    },
  });
  s.log.write(`hand-off: built on ${os.hostname()}; the publishing daemon publishes it\n`);
  faultPoint('handoff:after-journal');
}

export async function publishStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const version = versionOf(s);
  // Before reprepro runs: a daemon killed from here on asks the suite what it holds (resumePublish).
  s.record.note({ publishing: { version, suite: s.pocket.suite } });
  const published = {
    replace: s.pocket.allow_backtracking,
    provenanceFile: provenancePath(s.record),
    package: s.req.package,
    version,
    id: s.req.id,
    log: s.log,
  };
  if (s.promotion)
    await promoteBuild(env.repo, {
      ...published,
      from: s.promotion.from.suite,
      to: s.pocket.suite,
      outputs: s.promotion.outputs,
    });
  else
    await publishBuild(env.repo, {
      ...published,
      suite: s.pocket.suite,
      changesFiles: changesFiles(s).map((f) => path.join(s.record.outputsDir, f)),
    });
  await notePublished(s, env, version, s.outputs!.files);
}

/** The record's .changes files: the native build's first (it brings the source), then the cross builds'. */
function changesFiles(s: BuildState): string[] {
  const native = s.outputs!.changes;
  return [native, ...s.outputs!.files.map((f) => f.file).filter((f) => f.endsWith('.changes') && f !== native)];
}

/** The version a checked .dsc of the record names, in the pocket's suite. */
function dscPublishing(s: BuildState, file: string): { version: string; suite: string } | undefined {
  const text = fs.readFileSync(path.join(s.record.outputsDir, file), 'utf8');
  const version = /^Version: (\S+)$/m.exec(text)?.[1];
  return version ? { version, suite: s.pocket.suite } : undefined;
}

/** Whether a recovered build's audit log already has an entry of `type` (so it is not added twice). */
function auditedBefore(s: BuildState, env: BuildEnvironment, type: string): boolean {
  return s.recovered === true && env.audit.entriesOf(s.req.id).some((e) => e.type === type);
}

/** Only once the suite holds the build: a crash before this publishes again, or finds it published. */
async function notePublished(s: BuildState, env: BuildEnvironment, version: string, outputs: OutputFile[]) {
  s.record.note({ published: { version, suite: s.pocket.suite } });
  if (!auditedBefore(s, env, 'publish'))
    await env.audit.append({
      type: 'publish',
      actor: 'daemon',
      build: s.req.id,
      data: {
        pocket: s.pocket.name,
        suite: s.pocket.suite,
        package: s.req.package,
        version,
        outputs,
        ...(s.req.promote ? { promoted_from: s.req.promote.from, build_of: s.req.promote.build } : {}),
      },
    });
  s.log.write(`publish: ${s.req.package} ${version} is in suite ${s.pocket.suite}\n`);
}

/**
 * A daemon died while this build was being published. If the suite holds exactly its source
 * package (reprepro finished), the publish is completed from the record (provenance, journal,
 * audit) and true returned: building again would be refused as "not newer" by its own
 * publication. Otherwise nothing of it is published and the build starts over.
 */
export async function resumePublish(s: BuildState, env: BuildEnvironment): Promise<boolean> {
  const j = s.record.journal();
  if (j.published) return false;
  const outputs = fs.existsSync(s.record.outputsDir) ? await s.record.outputsOnDisk() : [];
  const dsc = outputs.find((o) => o.file.endsWith('.dsc'));
  // A damaged journal lost what was being published: the checked .dsc and the pocket say it.
  const publishing = j.publishing ?? (s.recovered && dsc ? dscPublishing(s, dsc.file) : undefined);
  if (!publishing) return false;
  const { version, suite } = publishing;
  const source = dsc?.file.slice(0, dsc.file.indexOf('_'));
  if (!dsc || !source || !(await env.repo.holdsSource(suite, source, version, dsc.sha256))) {
    s.log.write(
      `resume: ${s.req.id} was being published when the daemon stopped; the suite does not hold it: building again\n`,
    );
    return false;
  }
  s.log.write(
    `resume: ${s.req.id} was being published when the daemon stopped; suite ${suite} holds ${source} ${version}: completing the publish\n`,
  );
  publishProvenance(env.repo, {
    provenanceFile: provenancePath(s.record),
    package: s.req.package,
    version,
    id: s.req.id,
  });
  await notePublished(s, env, version, outputs);
  return true;
}

/**
 * The pocket's branch, and (for pockets that keep history) a tag per version, point at the
 * published commit. Where the branch pointed before is noted first, so a daemon killed between
 * the moves resumes with the same `from` and audits each ref once.
 */
export async function refsStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const journal = s.record.journal();
  const version = s.source?.changelog.version ?? journal.published!.version;
  const branch = `refs/heads/${s.pocket.name}`;
  const resumed = journal.refs_from !== undefined || s.recovered === true;
  const from = journal.refs_from ? journal.refs_from.branch : await readRef(s.gitdir, branch);
  if (!journal.refs_from) s.record.note({ refs_from: { branch: from } });
  const audited = new Set(
    resumed ? env.audit.entriesOf(s.req.id).flatMap((e) => (e.type === 'ref.moved' ? [e.data.ref] : [])) : [],
  );
  const moved = async (ref: string, before: string | null): Promise<void> => {
    if (audited.has(ref)) return;
    await env.audit.append({
      type: 'ref.moved',
      actor: 'daemon',
      build: s.req.id,
      data: { package: s.req.package, ref, from: before, to: s.req.commit },
    });
  };
  await moveBranch(s.gitdir, s.pocket.name, s.req.commit);
  await moved(branch, from);
  s.log.write(`refs: ${branch} -> ${s.req.commit}\n`);
  faultPoint('refs:after-branch');
  if (!s.pocket.allow_backtracking) {
    const tag = `${s.pocket.name}/${mangleVersionForGitTag(version)}`;
    await createTag(s.gitdir, tag, s.req.commit);
    await moved(`refs/tags/${tag}`, null);
    s.log.write(`refs: tag ${tag}\n`);
  }
  s.record.note({ refs_moved: true });
}
