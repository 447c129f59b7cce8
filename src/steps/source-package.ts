import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { exportLikeGitArchive } from './git-archive-tree.js';
import { readBlobAt, repoLabel, resolveCommit, shortOid, treeOf } from '../git/resolve.js';
import {
  createMissingFromManifest,
  exportPristineTarUpstream,
  findPristineTarballs,
  type PristineTarEntry,
} from '../git/pristine-tar.js';
import { parseChangelogHead, type ChangelogHead } from '../debian/changelog.js';
import { parseDeb822, sourceFormat, type SourceFormat } from '../debian/control.js';
import { mangleVersionForGitTag, parseVersion } from '../debian/version.js';
import { PocketbuildError } from '../util/errors.js';
import { runHostTool } from '../sandbox/host-tool.js';

/** For each confined host tool of the export (git archive, tar, pristine-tar gentar). */
const HOST_TOOL_TIMEOUT_MS = 10 * 60_000;

/** What the commit says it is, read from git without exporting anything. */
export interface SourceIdentity {
  changelog: ChangelogHead;
  format: SourceFormat;
  upstreamVersion: string;
  /**
   * Whether dpkg-source needs an upstream tarball beside the tree: always for 3.0 (quilt),
   * for 1.0 when the version has a Debian revision (1.0 then makes a .diff.gz against it).
   */
  needsUpstreamTarball: boolean;
  /** `Rules-Requires-Root: no` lets dpkg-buildpackage build without fakeroot. */
  needsFakeroot: boolean;
  tree: string;
}

/**
 * Read debian/changelog, debian/source/format and debian/control straight from the commit,
 * so a request can be refused (wrong package, version not newer) before any work is done.
 */
export async function identifySource(gitdir: string, commit: string, pkg: string): Promise<SourceIdentity> {
  const read = async (p: string) => (await readBlobAt(gitdir, commit, p))?.toString('utf8');
  const changelogText = await read('debian/changelog');
  if (changelogText === undefined) {
    throw new PocketbuildError(
      'NotADebianSource',
      `commit ${shortOid(commit)} of ${pkg}.git has no debian/changelog; pocketbuild builds trees with debian/ at the root.`,
    );
  }
  const changelog = parseChangelogHead(changelogText);
  if (changelog.source !== pkg) {
    throw new PocketbuildError(
      'SourceNameMismatch',
      `debian/changelog of commit ${shortOid(commit)} names source package "${changelog.source}", but this is the repository of "${pkg}"; fix the changelog or submit to ${changelog.source}.`,
    );
  }
  const format = sourceFormat(await read('debian/source/format'));
  const control = parseDeb822((await read('debian/control')) ?? '', { comments: true });
  const rrr = control[0]?.get('rules-requires-root')?.trim();
  const v = parseVersion(changelog.version);
  if (format === '3.0 (native)' && v.revision) {
    throw new PocketbuildError(
      'NativeVersionWithRevision',
      `${pkg} ${changelog.version} is 3.0 (native) but its version has a Debian revision (-${v.revision}); native versions have none: drop it, or use 3.0 (quilt) with an upstream tarball.`,
    );
  }
  const needsUpstreamTarball = format === '3.0 (quilt)' || (format === '1.0' && v.revision !== '');
  return {
    changelog,
    format,
    upstreamVersion: v.upstream,
    needsUpstreamTarball,
    needsFakeroot: needsFakeroot(rrr),
    tree: await treeOf(gitdir, commit),
  };
}

/**
 * Rules-Requires-Root (Debian policy 5.6.31.1): `no` builds without fakeroot; absent,
 * `binary-targets` or a list of implementation keywords need (fake)root for the binary targets.
 */
function needsFakeroot(field: string | undefined): boolean {
  return field !== 'no';
}

export interface PreparedSource {
  /** Directory bound as /in: the tree as `<dirname>/` and, for quilt, the upstream tarball beside it. */
  inDir: string;
  dirname: string;
  files: number;
  upstreamTarball?: { name: string; from: 'pristine-tar' | 'upstream-tag' };
  /**
   * Every file put beside the tree for dpkg-source, in order: the main upstream tarball, then
   * (from the pristine-tar branch) each `orig-COMPONENT` tarball, each followed by its `.asc`
   * signature when the branch has one.
   */
  upstreamFiles?: string[];
}

/**
 * Export the commit and, when the format needs one, produce the upstream tarball: byte-exact
 * from the pristine-tar branch when it has one (with its component tarballs and signatures),
 * else generated from the `upstream/<version>` tag.
 */
export async function prepareSource(
  gitdir: string,
  commit: string,
  id: SourceIdentity,
  workDir: string,
  log: Writable,
): Promise<PreparedSource> {
  const inDir = path.join(workDir, 'in');
  const dirname = `${id.changelog.source}-${id.upstreamVersion}`;
  fs.mkdirSync(inDir, { recursive: true });
  const { files } = await exportLikeGitArchive(gitdir, commit, path.join(inDir, dirname), {
    workDir,
    log,
    timeoutMs: HOST_TOOL_TIMEOUT_MS,
  });
  log.write(`export: ${files} files of ${shortOid(commit)} (tree ${shortOid(id.tree)})\n`);
  if (!id.needsUpstreamTarball) return { inDir, dirname, files };

  const source = id.changelog.source;
  let tarballs = await findPristineTarballs(gitdir, source, id.upstreamVersion);
  if (tarballs.length > 0) {
    const main = tarballs[0]!;
    if (id.format === '1.0') {
      // dpkg-source's 1.0 looks for `.orig.tar.gz` only, and has no component tarballs.
      if (!main.tarball.endsWith('.orig.tar.gz')) {
        throw new PocketbuildError(
          'UnusableUpstreamTarball',
          `${source} ${id.changelog.version} is format 1.0, which can only use a gzip upstream tarball, but the pristine-tar branch of ${source}.git has ${main.tarball}; commit a .orig.tar.gz with pristine-tar, or switch to 3.0 (quilt) in debian/source/format.`,
          { tarball: main.tarball },
        );
      }
      for (const c of tarballs.slice(1))
        log.write(`export: ${c.tarball} not used: format 1.0 has no component tarballs\n`);
      tarballs = [main];
    }
    const upstreamFiles: string[] = [];
    for (const entry of tarballs) {
      upstreamFiles.push(...(await regenerateFromPristineTar(gitdir, entry, inDir, workDir, log)));
    }
    return { inDir, dirname, files, upstreamTarball: { name: main.tarball, from: 'pristine-tar' }, upstreamFiles };
  }
  const tag = `upstream/${mangleVersionForGitTag(id.upstreamVersion)}`;
  let upstreamCommit: string;
  try {
    upstreamCommit = await resolveCommit(gitdir, `refs/tags/${tag}`);
  } catch {
    throw new PocketbuildError(
      'NoUpstreamTarball',
      `${source} ${id.changelog.version} is ${id.format} with a Debian revision, so it needs an upstream tarball, but ${source}.git has neither a pristine-tar branch entry for ${id.upstreamVersion} nor a tag ${tag}; push one of them.`,
    );
  }
  const staging = path.join(workDir, 'upstream');
  const top = `${source}-${id.upstreamVersion}`;
  // As the packaging tree is exported (git archive), or dpkg-source would see upstream changes.
  await exportLikeGitArchive(gitdir, upstreamCommit, path.join(staging, top), {
    workDir,
    log,
    timeoutMs: HOST_TOOL_TIMEOUT_MS,
  });
  // Format 1.0 knows only gzip.
  const gz = id.format === '1.0';
  const name = `${source}_${id.upstreamVersion}.orig.tar.${gz ? 'gz' : 'xz'}`;
  // Deterministic, so the same tag always gives the same tarball (and the same .dsc).
  await runHostTool(
    [
      'tar',
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      `--mtime=@${id.changelog.timestamp}`,
      '-C',
      staging,
      gz ? '-czf' : '-cJf',
      path.join(inDir, name),
      top,
    ],
    { workDir, cwd: workDir, timeoutMs: HOST_TOOL_TIMEOUT_MS, log, what: 'tar' },
  );
  fs.rmSync(staging, { recursive: true, force: true });
  log.write(`export: ${name} made from tag ${tag}\n`);
  return { inDir, dirname, files, upstreamTarball: { name, from: 'upstream-tag' }, upstreamFiles: [name] };
}

/**
 * `pristine-tar checkout` of one entry, done in parts so that only the parts that must read
 * the delta run confined (runHostTool): the delta's manifest is read by tar in the sandbox,
 * the upstream tree is exported here, the directories the manifest names and git cannot hold
 * are created here (refusing names that would leave the tree: see createMissingFromManifest),
 * and `pristine-tar gentar` runs in the sandbox. The signature, if any, is copied beside.
 * Returns the file names written into `inDir`.
 */
async function regenerateFromPristineTar(
  gitdir: string,
  entry: PristineTarEntry,
  inDir: string,
  workDir: string,
  log: Writable,
): Promise<string[]> {
  const label = repoLabel(gitdir);
  // Fresh directories made here: an earlier confined run could write anywhere in workDir, so
  // no name it might have planted (a symlink, say) is reused.
  const scratch = fs.mkdtempSync(path.join(workDir, 'pristine-tar-'));
  try {
    const delta = path.join(scratch, `${entry.tarball}.delta`);
    fs.writeFileSync(delta, entry.delta, { flag: 'wx' });
    const manifest = await readDeltaManifest(delta, scratch, workDir, entry.tarball, label, log);

    const upstreamDir = fs.mkdtempSync(path.join(workDir, 'upstream-'));
    try {
      const { files } = await exportPristineTarUpstream(gitdir, entry, upstreamDir, (g, id, dest) =>
        exportLikeGitArchive(g, id, dest, { workDir, log, timeoutMs: HOST_TOOL_TIMEOUT_MS }),
      );
      const from = entry.rebuiltFrom
        ? `tree ${shortOid(entry.id)} (${entry.rebuiltFrom.ref} without ${entry.rebuiltFrom.without.join(', ')})`
        : shortOid(entry.id);
      log.write(`export: ${files} upstream files of ${from} for ${entry.tarball}\n`);
      const created = createMissingFromManifest(manifest, upstreamDir, { tarball: entry.tarball, label });
      if (created.length > 0) {
        const shown = created.slice(0, 5).map((c) => Buffer.from(c, 'latin1').toString('utf8'));
        log.write(
          `export: ${created.length} directories of ${entry.tarball} that git does not store recreated from its manifest (${shown.join(', ')}${created.length > 5 ? ', ...' : ''})\n`,
        );
      }
      if (entry.signature !== undefined) {
        // Before gentar runs, and never through a link.
        fs.writeFileSync(path.join(inDir, `${entry.tarball}.asc`), entry.signature, { flag: 'wx' });
      }
      // The delta is data from the repository, and pristine-tar has had path-traversal bugs:
      // it runs where it can only see this build's work directory.
      await runHostTool(['pristine-tar', 'gentar', delta, path.join(inDir, entry.tarball)], {
        workDir,
        cwd: upstreamDir,
        timeoutMs: HOST_TOOL_TIMEOUT_MS,
        log,
        what: `pristine-tar gentar ${entry.tarball}`,
      });
    } finally {
      fs.rmSync(upstreamDir, { recursive: true, force: true });
    }
    const out = [entry.tarball];
    log.write(`export: ${entry.tarball} regenerated from the pristine-tar branch\n`);
    if (entry.signature !== undefined) {
      out.push(`${entry.tarball}.asc`);
      log.write(`export: ${entry.tarball}.asc (upstream signature) copied from the pristine-tar branch\n`);
    }
    return out;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Bigger than any real manifest (a name a line, for every file of the tarball). */
const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/**
 * The `manifest` member of a pristine-tar delta (itself a tarball), read as pristine-tar reads
 * it: `tar -xf` into a directory, then the top-level regular file `manifest` (`-f`, which
 * follows a symlink: inside the sandbox). Extracted in the sandbox's own /tmp; only the
 * manifest's bytes come out, into a file the shell creates.
 */
async function readDeltaManifest(
  delta: string,
  scratch: string,
  workDir: string,
  tarball: string,
  label: string,
  log: Writable,
): Promise<Buffer> {
  const outFile = path.join(scratch, 'manifest');
  const broken = (why: string) =>
    new PocketbuildError(
      'BrokenPristineTar',
      `the pristine-tar delta of ${tarball} in ${label} ${why}; re-run pristine-tar commit for ${tarball} and push the pristine-tar branch again.`,
      { tarball },
    );
  const script =
    'set -e; mkdir /tmp/delta; tar -x --no-same-owner --no-same-permissions -f "$1" -C /tmp/delta; if [ -f /tmp/delta/manifest ]; then cat /tmp/delta/manifest > "$2"; fi';
  try {
    await runHostTool(['sh', '-c', script, 'sh', delta, outFile], {
      workDir,
      cwd: scratch,
      timeoutMs: HOST_TOOL_TIMEOUT_MS,
      log,
      what: `tar (the manifest of ${tarball}.delta)`,
    });
  } catch (e) {
    if (e instanceof PocketbuildError && e.code === 'CommandFailed') throw broken(`cannot be unpacked (${e.message})`);
    throw e;
  }
  let fd: number;
  try {
    fd = fs.openSync(outFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw broken('has no manifest');
    // Only a subverted tar would leave a symlink there; it is not followed.
    if (code === 'ELOOP') throw broken('left something other than a manifest file when unpacked');
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw broken('has no manifest');
    if (st.size > MAX_MANIFEST_BYTES)
      throw broken(`has a manifest of ${st.size} bytes, more than any real tarball needs`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = fs.readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}
