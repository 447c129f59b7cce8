import fs from 'node:fs';
import path from 'node:path';
import { unverifiedSubjects } from './provenance.js';

export interface ProvenanceFile {
  file: string;
  envelope: unknown;
}

/**
 * Every `*.intoto.jsonl` under the given files or directories (a builder's builds/, a copy
 * of a published repository's provenance/), read as one envelope per non-empty line.
 * Unreadable lines are kept as `null` envelopes so that verification reports them.
 */
export function readProvenanceFiles(roots: string[]): ProvenanceFile[] {
  const out: ProvenanceFile[] = [];
  const visit = (p: string, depth: number) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      if (depth > 4) return;
      for (const n of fs.readdirSync(p).sort()) visit(path.join(p, n), depth + 1);
    } else if (st.isFile() && (depth === 0 || p.endsWith('.intoto.jsonl'))) {
      for (const line of fs.readFileSync(p, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        let envelope: unknown = null;
        try {
          envelope = JSON.parse(line);
        } catch {
          // reported by the verifier as "not a DSSE envelope"
        }
        out.push({ file: p, envelope });
      }
    }
  };
  for (const r of roots) visit(r, 0);
  return out;
}

/** The envelopes that claim the digest; nothing about them is trusted yet. */
export function candidatesFor(sha256: string, files: ProvenanceFile[]): ProvenanceFile[] {
  return files.filter((f) => unverifiedSubjects(f.envelope).includes(sha256));
}
