import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { publishedProvenancePath } from '../record/provenance-file.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { faultPoint } from '../util/fault-point.js';
import type { AptRepository } from './reprepro.js';
import { exportedFiles } from './exported-index.js';
import type { OutputFile } from '../record/build-record.js';
import { PocketbuildError } from '../util/errors.js';

export interface BuildToPublish {
  suite: string;
  /** The checked .changes files, the native build's first; their files lie beside them. */
  changesFiles: string[];
  /** A pocket that allows backtracking replaces whatever version it had. */
  replace: boolean;
  /** The build's signed provenance, served beside its packages. */
  provenanceFile: string;
  package: string;
  version: string;
  id: string;
  log: Writable;
}

/**
 * Put a checked build into its suite, then its provenance beside it. Both are safe to repeat:
 * a crash before the caller notes "published" does both again.
 */
export async function publishBuild(repo: AptRepository, b: BuildToPublish): Promise<void> {
  faultPoint('publish:before-include');
  await repo.include(b.suite, b.changesFiles, { replace: b.replace, log: b.log });
  faultPoint('publish:after-include');
  publishProvenance(repo, b);
}

export interface PromotionToPublish extends Pick<
  BuildToPublish,
  'provenanceFile' | 'package' | 'version' | 'id' | 'log'
> {
  from: string;
  to: string;
  replace: boolean;
  /** The files as the build recorded them: the target suite must list the published ones so. */
  outputs: OutputFile[];
}

/**
 * Publish in suite `to` what suite `from` publishes of a package (the same pool files), then
 * the promotion statement beside the provenance. The target's indices are read back: each
 * published file must be listed with the sha256 its build recorded. Safe to repeat, as above.
 */
export async function promoteBuild(repo: AptRepository, p: PromotionToPublish): Promise<void> {
  faultPoint('publish:before-include');
  await repo.copySource(p.to, p.from, p.package, p.version, { replace: p.replace, log: p.log });
  faultPoint('publish:after-include');
  const listed = exportedFiles(repo.dir, p.to, p.package, p.version);
  const differ = publishedFiles(p.outputs).filter((o) => listed.get(o.file) !== o.sha256);
  if (differ.length)
    throw new PocketbuildError(
      'PromotedFilesDiffer',
      `suite ${p.to} does not list ${differ.map((o) => o.file).join(', ')} with the sha256 the build recorded, after the copy.`,
      { listed: Object.fromEntries(listed) },
    );
  p.log.write(`promote: suite ${p.to} lists all ${listed.size} files with the sha256 the build recorded\n`);
  publishProvenance(repo, p);
}

/** The outputs that go into the pool: the .changes and .buildinfo are the build's record, not published. */
export function publishedFiles(outputs: OutputFile[]): OutputFile[] {
  return outputs.filter((o) => !o.file.endsWith('.changes') && !o.file.endsWith('.buildinfo'));
}

/** The provenance beside the packages; also what a publish resumed after a crash still owes. */
export function publishProvenance(
  repo: AptRepository,
  b: Pick<BuildToPublish, 'provenanceFile' | 'package' | 'version' | 'id'>,
): void {
  const published = publishedProvenancePath(repo.dir, b.package, b.version, b.id);
  fs.mkdirSync(path.dirname(published), { recursive: true });
  writeFileAtomic(published, fs.readFileSync(b.provenanceFile));
}
