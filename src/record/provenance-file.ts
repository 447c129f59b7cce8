import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { BuildRecord } from './build-record.js';

/** Where a build's signed provenance (one DSSE envelope as a JSON line) is kept. */
export function provenancePath(record: BuildRecord): string {
  return path.join(record.dir, 'provenance.intoto.jsonl');
}

/** The provenance file and its sha256, once the build has one. */
export function provenanceDigest(record: BuildRecord): { file: string; sha256: string } | null {
  const file = provenancePath(record);
  try {
    return { file, sha256: createHash('sha256').update(fs.readFileSync(file)).digest('hex') };
  } catch {
    return null;
  }
}

/**
 * Where the published repository serves a build's provenance, beside the packages:
 * `<apt>/provenance/<package>/<package>_<version>_<id>.intoto.jsonl` (epochs' colons
 * become %3a, as in pool file names).
 */
export function publishedProvenancePath(aptDir: string, pkg: string, version: string, id: string): string {
  return path.join(aptDir, 'provenance', pkg, `${pkg}_${version.replace(/:/g, '%3a')}_${id}.intoto.jsonl`);
}
