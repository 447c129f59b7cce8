import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { publishedProvenancePath } from '../record/provenance-file.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { faultPoint } from '../util/fault-point.js';
import type { AptRepository } from './reprepro.js';

export interface BuildToPublish {
  suite: string;
  /** The checked .changes; its files lie beside it. */
  changesFile: string;
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
  await repo.include(b.suite, b.changesFile, { replace: b.replace, log: b.log });
  faultPoint('publish:after-include');
  publishProvenance(repo, b);
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
