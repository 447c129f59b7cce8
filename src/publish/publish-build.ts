import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { publishedProvenancePath } from '../record/provenance-file.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
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
  await repo.include(b.suite, b.changesFile, { replace: b.replace, log: b.log });
  const published = publishedProvenancePath(repo.dir, b.package, b.version, b.id);
  fs.mkdirSync(path.dirname(published), { recursive: true });
  writeFileAtomic(published, fs.readFileSync(b.provenanceFile));
}
