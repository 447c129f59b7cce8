import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { PocketConfig, Config } from '../config/types.js';
import type { StageTiming } from '../record/build-record.js';
import { runSandbox, type SandboxOptions } from '../sandbox/index.js';
import { BuildFailed } from '../util/errors.js';
import type { RunResult } from '../util/run.js';
import { failureLines, foreignProgramRun } from './failure-reason.js';
import { limitFailure } from './limit-failure.js';
import { BUILD_PATH, SANDBOX_SCRIPT } from './sandbox-script.js';
import type { SourceIdentity } from './source-package.js';

export interface SandboxBuildInput {
  pocket: Pick<PocketConfig, 'sandbox' | 'suite' | 'deb_build_options'>;
  limits: Config['limits'];
  /** Build slots share the CPUs: each build gets its part as parallel=N. */
  slots: number;
  cacheDir: string;
  source: SourceIdentity;
  base: { root: string; digest: string };
  /** Cached layers over the base (the installed build-dependencies), topmost first. */
  layers?: string[];
  /** Holds in/ (the exported source), debs/ (the build-dependencies); out/ and scratch/ are made here. */
  work: string;
  log: Writable;
  signal: AbortSignal;
  /**
   * Cross-build the architecture-specific packages for this architecture (`-B -a ARCH`),
   * from `debs-ARCH/` into `out-ARCH/`; unset, the native build of everything.
   */
  crossArch?: string;
}

/** What dpkg-buildpackage ran with: recorded in the provenance. */
export interface BuildVariables {
  DEB_BUILD_OPTIONS: string;
  DEB_BUILD_PROFILES?: string;
}

export type SandboxBuildOutcome =
  /** The outputs are in `<work>/out`, unchecked. */
  | { ended: 'built'; substages: StageTiming[]; buildEnv: BuildVariables; outDir: string }
  /** Stopped from outside (cancel, or the log's size limit): the caller knows which. */
  | { ended: 'stopped'; how: string };

/**
 * The build itself: dpkg-buildpackage in the pocket's sandbox over the base image, offline,
 * with the build-dependencies already fetched. A failure the sandbox can explain (a limit, a
 * compiler error) is thrown as a BuildFailed saying so.
 */
export async function buildInSandbox(o: SandboxBuildInput): Promise<SandboxBuildOutcome> {
  const dirs = buildDirs(o.work, o.crossArch);
  const out = dirs.out;
  fs.mkdirSync(out);
  const lim = o.limits;
  const profiles = buildProfiles(o.pocket, o.crossArch);
  const buildEnv: BuildVariables = {
    DEB_BUILD_OPTIONS: debBuildOptions(buildOptionWords(o.pocket, o.crossArch), o.slots),
    ...(profiles.length ? { DEB_BUILD_PROFILES: profiles.join(' ') } : {}),
  };
  o.log.write(
    `build: DEB_BUILD_OPTIONS="${buildEnv.DEB_BUILD_OPTIONS}"${buildEnv.DEB_BUILD_PROFILES ? ` DEB_BUILD_PROFILES="${buildEnv.DEB_BUILD_PROFILES}"` : ''}\n`,
  );
  const r = await runSandbox(o.pocket.sandbox, {
    base: o.base.root,
    ...(o.layers?.length ? { layers: o.layers } : {}),
    scratch: dirs.scratch,
    binds: [
      { host: path.join(o.work, 'in'), inside: '/in' },
      { host: dirs.debs, inside: '/debs' },
      { host: out, inside: '/out', writable: true },
    ],
    argv: [
      'sh',
      '-c',
      SANDBOX_SCRIPT,
      'pocketbuild-build',
      `${o.source.changelog.source}-${o.source.upstreamVersion}`,
      // Installed by name beside Build-Depends: a root without a dependency layer needs them too.
      [...(o.source.needsFakeroot ? ['fakeroot'] : []), ...(o.crossArch ? crossToolchain(o.crossArch) : [])].join(' '),
      o.pocket.suite,
    ],
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      LC_ALL: 'C.UTF-8',
      SOURCE_DATE_EPOCH: String(o.source.changelog.timestamp),
      ...buildEnv,
      ...(o.crossArch ? { CROSS_ARCH: o.crossArch } : {}),
    },
    limits: sandboxLimits(lim),
    log: o.log,
    signal: o.signal,
    cacheDir: o.cacheDir,
    baseDigest: o.base.digest,
  });
  if (r.cancelled && !r.timedOut) return { ended: 'stopped', how: r.how };
  if (r.code !== 0) {
    const what = o.crossArch ? `the ${o.crossArch} cross build` : 'the build';
    // Its shell's words for it are garbage (dash reads the ELF file as a script): say what happened.
    const foreign = o.crossArch && !r.timedOut ? foreignProgramRun(`${r.stdout}\n${r.stderr}`) : null;
    if (foreign)
      throw new BuildFailed(
        `${what} in the sandbox ${r.how}: it ran ${foreign}, a program it built for ${o.crossArch}, so this package cannot be cross-built as it is`,
      );
    throw sandboxFailure(r, lim, what);
  }
  const substages = splitByMarks(r.stdout, Date.now());
  o.log.write(
    `build: finished in ${BUILD_PATH} (${substages.map((x) => `${x.name} ${(x.ms / 1000).toFixed(2)} s`).join(', ')})\n`,
  );
  return { ended: 'built', substages, buildEnv, outDir: out };
}

/**
 * What a cross build to `arch` installs beyond Build-Depends: Debian's cross toolchain, and
 * the C library for `arch`, which dpkg-shlibdeps reads (sbuild adds it too).
 */
export function crossToolchain(arch: string): string[] {
  return [`crossbuild-essential-${arch}`, `libc6-dev:${arch}`];
}

/** The configured limits as the sandbox takes them. */
export function sandboxLimits(lim: Config['limits']): SandboxOptions['limits'] {
  return {
    timeoutMs: lim.build_timeout_seconds * 1000,
    diskMb: lim.disk_mb,
    processes: lim.processes,
    memoryMb: lim.memory_mb,
    cpuSeconds: lim.cpu_seconds,
  };
}

/**
 * Why a sandboxed run (`what`: the build, the install of a dependency layer) did not exit 0,
 * as a BuildFailed: the time limit, another limit the sandbox measured, or the tool's own
 * error lines.
 */
export function sandboxFailure(r: RunResult, lim: Config['limits'], what: string): BuildFailed {
  if (r.timedOut) return new BuildFailed(`${what} ${r.how} (limits.build_timeout_seconds)`, 'BuildTimedOut');
  const limit = limitFailure(`${r.stdout}\n${r.stderr}`, lim);
  if (limit) return new BuildFailed(`${what} in the sandbox ${r.how}: ${limit.message}`, limit.code);
  const why = failureLines(`${r.stdout}\n${r.stderr}`);
  return new BuildFailed(`${what} in the sandbox ${r.how}: ${why || 'the end of build.log says why'}`);
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
export function buildProfiles(pocket: { deb_build_options: string }, crossArch?: string): string[] {
  // A cross build cannot run what it built, and `cross` selects the tools a package needs for it.
  if (crossArch) return ['cross', 'nocheck'];
  return pocket.deb_build_options.split(/\s+/).includes('nocheck') ? ['nocheck'] : [];
}

/** The pocket's DEB_BUILD_OPTIONS, with `nocheck` for a cross build (its tests cannot run here). */
function buildOptionWords(pocket: { deb_build_options: string }, crossArch?: string): string {
  const words = pocket.deb_build_options.split(/\s+/).filter(Boolean);
  if (crossArch && !words.includes('nocheck')) words.push('nocheck');
  return words.join(' ');
}

/**
 * Where a build's resolved .debs, outputs and scratch disk are, under its work directory: one
 * set for the native build, one per cross-built architecture.
 */
export function buildDirs(work: string, crossArch?: string): { debs: string; out: string; scratch: string } {
  const suffix = crossArch ? `-${crossArch}` : '';
  return {
    debs: path.join(work, `debs${suffix}`),
    out: path.join(work, `out${suffix}`),
    scratch: path.join(work, `scratch${suffix}`),
  };
}

/** `pocketbuild-mark: NAME EPOCH_MS` lines → the time between consecutive marks, as build.NAME. */
export function splitByMarks(output: string, endMs: number): StageTiming[] {
  const marks = [...output.matchAll(/^pocketbuild-mark: (\w+) (\d+)$/gm)].map((m) => ({
    name: m[1]!,
    at: Number(m[2]),
  }));
  return marks.map((m, i) => ({ name: `build.${m.name}`, ms: Math.max(0, (marks[i + 1]?.at ?? endMs) - m.at) }));
}
