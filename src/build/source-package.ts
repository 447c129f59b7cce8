import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { exportTree } from '../git/export.js';
import { readBlobAt, resolveCommit, shortOid, treeOf } from '../git/resolve.js';
import { findPristineTar } from '../git/pristine-tar.js';
import { parseChangelogHead, type ChangelogHead } from '../debian/changelog.js';
import { parseDeb822, sourceFormat, type SourceFormat } from '../debian/control.js';
import { mangleVersionForGitTag, parseVersion } from '../debian/version.js';
import { PocketbuildError } from '../util/errors.js';
import { runHostTool } from '../sandbox/host-tool.js';

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
    throw new PocketbuildError('NotADebianSource', `commit ${shortOid(commit)} of ${pkg}.git has no debian/changelog; pocketbuild builds trees with debian/ at the root.`);
  }
  const changelog = parseChangelogHead(changelogText);
  if (changelog.source !== pkg) {
    throw new PocketbuildError('SourceNameMismatch', `debian/changelog of commit ${shortOid(commit)} names source package "${changelog.source}", but this is the repository of "${pkg}"; fix the changelog or submit to ${changelog.source}.`);
  }
  const format = sourceFormat(await read('debian/source/format'));
  const control = parseDeb822((await read('debian/control')) ?? '', { comments: true });
  const rrr = control[0]?.get('rules-requires-root')?.trim();
  const v = parseVersion(changelog.version);
  if (format === '3.0 (native)' && v.revision) {
    throw new PocketbuildError('NativeVersionWithRevision', `${pkg} ${changelog.version} is 3.0 (native) but its version has a Debian revision (-${v.revision}); native versions have none: drop it, or use 3.0 (quilt) with an upstream tarball.`);
  }
  const needsUpstreamTarball = format === '3.0 (quilt)' || (format === '1.0' && v.revision !== '');
  return { changelog, format, upstreamVersion: v.upstream, needsUpstreamTarball, needsFakeroot: needsFakeroot(rrr), tree: await treeOf(gitdir, commit) };
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
}

/**
 * Export the commit and, for 3.0 (quilt), produce the upstream tarball: byte-exact from
 * the pristine-tar branch when it has one, else generated from the `upstream/<version>` tag.
 */
export async function prepareSource(gitdir: string, commit: string, id: SourceIdentity, workDir: string, log: Writable): Promise<PreparedSource> {
  const inDir = path.join(workDir, 'in');
  const dirname = `${id.changelog.source}-${id.upstreamVersion}`;
  fs.mkdirSync(inDir, { recursive: true });
  const { files } = await exportTree(gitdir, commit, path.join(inDir, dirname));
  log.write(`export: ${files} files of ${shortOid(commit)} (tree ${shortOid(id.tree)})\n`);
  if (!id.needsUpstreamTarball) return { inDir, dirname, files };

  const source = id.changelog.source;
  const pt = await findPristineTar(gitdir, source, id.upstreamVersion);
  if (pt) {
    const upstreamDir = path.join(workDir, 'upstream');
    await exportTree(gitdir, pt.id, upstreamDir);
    const delta = path.join(workDir, `${pt.tarball}.delta`);
    fs.writeFileSync(delta, pt.delta);
    // The delta is data from the repository, and pristine-tar has had path-traversal bugs:
    // it runs where it can only see this build's work directory.
    await runHostTool(['pristine-tar', 'gentar', delta, path.join(inDir, pt.tarball)], {
      workDir, cwd: upstreamDir, timeoutMs: 10 * 60_000, log, what: 'pristine-tar gentar',
    });
    fs.rmSync(upstreamDir, { recursive: true, force: true });
    log.write(`export: ${pt.tarball} regenerated from the pristine-tar branch\n`);
    return { inDir, dirname, files, upstreamTarball: { name: pt.tarball, from: 'pristine-tar' } };
  }
  const tag = `upstream/${mangleVersionForGitTag(id.upstreamVersion)}`;
  let upstreamCommit: string;
  try {
    upstreamCommit = await resolveCommit(gitdir, `refs/tags/${tag}`);
  } catch {
    throw new PocketbuildError('NoUpstreamTarball', `${source} ${id.changelog.version} is ${id.format} with a Debian revision, so it needs an upstream tarball, but ${source}.git has neither a pristine-tar branch entry for ${id.upstreamVersion} nor a tag ${tag}; push one of them.`);
  }
  const staging = path.join(workDir, 'upstream');
  const top = `${source}-${id.upstreamVersion}`;
  await exportTree(gitdir, upstreamCommit, path.join(staging, top));
  // Format 1.0 knows only gzip.
  const gz = id.format === '1.0';
  const name = `${source}_${id.upstreamVersion}.orig.tar.${gz ? 'gz' : 'xz'}`;
  // Deterministic, so the same tag always gives the same tarball (and the same .dsc).
  await runHostTool(
    ['tar', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${id.changelog.timestamp}`, '-C', staging, gz ? '-czf' : '-cJf', path.join(inDir, name), top],
    { workDir, cwd: workDir, timeoutMs: 10 * 60_000, log, what: 'tar' },
  );
  fs.rmSync(staging, { recursive: true, force: true });
  log.write(`export: ${name} made from tag ${tag}\n`);
  return { inDir, dirname, files, upstreamTarball: { name, from: 'upstream-tag' } };
}
