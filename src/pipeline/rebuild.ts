import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { configuredPocket, type Config } from '../config/types.js';
import { BuildRecord, type OutputFile, type StageTiming } from '../record/build-record.js';
import type { AuditLog } from '../record/audit-log.js';
import type { AptRepository } from '../publish/reprepro.js';
import { BuildFailed, NotFoundError, PocketbuildError } from '../util/errors.js';
import { identifySource } from '../steps/source-package.js';
import { ensureBaseImage, removeTree } from '../steps/base-image.js';
import { gatherPinnedDebs } from '../steps/pinned-deps.js';
import { aptCacheDir } from '../steps/build-deps.js';
import type { BuildState, BuildStep } from './build-state.js';
import { buildStep, checkStep, crossBuild, exportStep } from './build-steps.js';
import { buildDirs } from '../steps/build-in-sandbox.js';
import { runSteps } from './run-steps.js';
import { processAlive } from '../util/process-alive.js';

export interface FileComparison {
  file: string;
  original: string | null;
  rebuilt: string | null;
  same: boolean;
  /** .buildinfo records the build date, and .changes its checksum: they always differ. */
  expectedToDiffer: boolean;
}

export interface RebuildReport {
  id: string;
  dir: string;
  reproduced: boolean;
  files: FileComparison[];
  stages: StageTiming[];
}

/**
 * Build a finished build again from what its record says went in: the same commit, the
 * base image with the same digest, the same .debs by sha256 (from the cache, never
 * re-resolved), the same fixed path and SOURCE_DATE_EPOCH. Nothing is published and no ref
 * moves; the outputs land in builds/<id>/rebuilds/<time>/ and are compared with the original.
 */
export async function rebuild(
  config: Config,
  id: string,
  deps: { repo: AptRepository; audit: AuditLog; log: Writable; signal: AbortSignal },
): Promise<RebuildReport> {
  const original = new BuildRecord(config.state_dir, id);
  const req = original.request();
  const result = original.result();
  if (!req || !result)
    throw new NotFoundError(
      `no finished build ${id} in ${path.join(config.state_dir, 'builds')}; see pocketbuild status.`,
      { id },
    );
  if (req.promote)
    throw new PocketbuildError(
      'NotRebuildable',
      `${id} is a promotion: it built nothing, and published the files of build ${req.promote.build}; rebuild that one.`,
      { id, build: req.promote.build },
    );
  if (result.status !== 'succeeded' || !result.base_digest || !result.build_deps) {
    throw new PocketbuildError(
      'NotRebuildable',
      `build ${id} ${result.status === 'succeeded' ? 'has no recorded base image and build-dependencies (made by an older pocketbuild)' : `did not succeed (${result.status})`}; only a succeeded build with recorded inputs can be rebuilt.`,
      { id },
    );
  }
  const pocket = configuredPocket(config, req.pocket);
  if (!pocket)
    throw new PocketbuildError(
      'UnknownPocket',
      `pocket ${req.pocket} of build ${id} is no longer configured, so its sandbox is unknown; add it back to rebuild.`,
    );
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
  const record = new BuildRecord(config.state_dir, id, path.join(original.dir, 'rebuilds', stamp));
  fs.mkdirSync(record.dir, { recursive: true });
  const s: BuildState = {
    req,
    pocket,
    record,
    log: deps.log,
    substages: [],
    started: new Date().toISOString(),
    gitdir: path.join(config.repos_dir, `${req.package}.git`),
    work: path.join(config.work_dir, `${id}${REBUILD_MARK}${os.hostname()}-${process.pid}`),
  };
  const steps: BuildStep[] = [
    {
      name: 'source',
      run: async () => {
        s.source = await identifySource(s.gitdir, req.commit, req.package);
        if (s.source.changelog.version !== result.version)
          throw new BuildFailed(
            `commit ${req.commit} now says version ${s.source.changelog.version}, the build recorded ${result.version}`,
            'SourceChanged',
          );
      },
    },
    { name: 'export', run: exportStep },
    {
      name: 'base',
      run: async () => {
        s.base = await ensureBaseImage({
          cacheDir: path.join(config.cache_dir, 'base'),
          suite: s.pocket.distribution,
          mirror: config.archive.mirror,
          log: s.log,
        });
        if (s.base.digest !== result.base_digest) {
          throw new BuildFailed(
            `the cached base image is sha256 ${s.base.digest}, the build used ${result.base_digest}; that base is gone (remove ${path.join(config.cache_dir, 'base')} only together with the builds you want to rebuild)`,
            'BaseImageChanged',
          );
        }
        s.log.write(`base: sha256 ${s.base.digest}, as recorded\n`);
      },
    },
    {
      name: 'deps',
      run: async () => {
        s.deps = await gatherPinnedDebs(result.build_deps!, {
          // The release's apt cache, and where a cache made before apt caches were per release kept them.
          archives: [
            path.join(aptCacheDir(config, s.pocket.distribution), 'archives'),
            path.join(config.cache_dir, 'apt', 'archives'),
          ],
          pool: path.join(deps.repo.dir, 'pool'),
          destDir: path.join(s.work, 'debs'),
        });
        s.log.write(`deps: the ${s.deps.length} recorded .debs, each matched by sha256\n`);
      },
    },
    { name: 'build', run: buildStep },
    { name: 'check', run: checkStep },
    // The cross builds the original made, each from its own recorded .debs.
    ...Object.entries(result.cross_deps ?? {}).map(([arch, pinned]): BuildStep => ({
      name: `cross ${arch}`,
      run: async (st, env) => {
        const got = await gatherPinnedDebs(pinned, {
          archives: [path.join(aptCacheDir(config, s.pocket.distribution, arch), 'archives')],
          pool: path.join(deps.repo.dir, 'pool'),
          destDir: buildDirs(s.work, arch).debs,
        });
        (st.cross ??= []).push({ arch, deps: got });
        st.log.write(`deps: the ${got.length} recorded .debs of the ${arch} cross build, each matched by sha256\n`);
        await crossBuild(st, env, arch);
      },
    })),
  ];
  const stages: StageTiming[] = [];
  await removeInterruptedRebuilds(config.work_dir, deps.log);
  fs.rmSync(s.work, { recursive: true, force: true });
  fs.mkdirSync(s.work, { recursive: true });
  try {
    await runSteps(steps, s, { config, repo: deps.repo, audit: deps.audit, signal: deps.signal }, stages, 'rebuild');
  } finally {
    fs.rmSync(s.work, { recursive: true, force: true });
  }
  const files = compareOutputs(result.outputs, s.outputs!.files);
  const reproduced = files.every((f) => f.same || f.expectedToDiffer);
  await deps.audit.append({
    type: 'rebuild',
    actor: 'daemon',
    build: id,
    data: { reproduced, dir: record.dir, differ: files.filter((f) => !f.same).map((f) => f.file) },
  });
  return { id, dir: record.dir, reproduced, files, stages };
}

export function compareOutputs(original: OutputFile[], rebuilt: OutputFile[]): FileComparison[] {
  const names = [...new Set([...original.map((o) => o.file), ...rebuilt.map((o) => o.file)])].sort();
  return names.map((file) => {
    const a = original.find((o) => o.file === file)?.sha256 ?? null;
    const b = rebuilt.find((o) => o.file === file)?.sha256 ?? null;
    return {
      file,
      original: a,
      rebuilt: b,
      same: a !== null && a === b,
      expectedToDiffer: /\.(buildinfo|changes)$/.test(file),
    };
  });
}

const REBUILD_MARK = '-rebuild-';

/**
 * A rebuild killed outright (SIGKILL, a closed terminal's lost session) never ran its cleanup:
 * its work directory, named for the host and pid that made it, is removed by the next rebuild
 * on the same host once that process is gone. Directories of other hosts sharing the state
 * are left to them.
 */
async function removeInterruptedRebuilds(workRoot: string, log: Writable): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(workRoot);
  } catch {
    return;
  }
  const mine = `${REBUILD_MARK}${os.hostname()}-`;
  for (const name of names) {
    const at = name.lastIndexOf(mine);
    if (at < 0) continue;
    const pid = Number(name.slice(at + mine.length));
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    await removeTree(path.join(workRoot, name));
    log.write(`rebuild: removed the work directory of an interrupted rebuild (pid ${pid})\n`);
  }
}
