import fs from 'node:fs';
import path from 'node:path';
import { parseDeb822 } from '../debian/control.js';
import { PocketbuildError } from '../util/errors.js';
import type { OutputFile } from '../record/build-record.js';
import { sha256File } from '../util/sha256-file.js';

export class BadOutputs extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('BadOutputs', message, data);
  }
}

export interface CheckedOutputs {
  changes: string;
  files: OutputFile[];
  /** What else the build left in its output directory, which is not kept (sorted). */
  leftOut?: string[];
}

/**
 * Treat what the build left in its output directory as untrusted data: exactly one
 * .changes, for the requested source and version, naming only plain files that sit in the
 * directory itself (no paths, no symlinks), each within the size limit and with the
 * checksum the .changes claims.
 */
export async function checkOutputs(
  dir: string,
  expect: {
    source: string;
    version: string;
    maxBytes: number;
    /**
     * A cross build's: the .changes must be for these architectures only and name nothing but
     * their .debs and its .buildinfo (the source and arch: all packages are the native build's).
     */
    architectures?: string[];
  },
): Promise<CheckedOutputs> {
  const names = fs.readdirSync(dir);
  const changes = names.filter((n) => n.endsWith('.changes'));
  if (changes.length !== 1)
    throw new BadOutputs(
      `the build left ${changes.length} .changes files (${changes.join(', ') || 'none'}); exactly one was expected.`,
    );
  const changesName = changes[0]!;
  const files: OutputFile[] = [];
  const checkFile = async (name: string): Promise<OutputFile> => {
    if (name !== path.basename(name) || name.startsWith('.'))
      throw new BadOutputs(
        `${changesName} names ${JSON.stringify(name)}, which is not a plain file name in the output directory.`,
      );
    const full = path.join(dir, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      throw new BadOutputs(`${changesName} names ${name}, which the build did not produce.`);
    }
    if (!st.isFile()) throw new BadOutputs(`output ${name} is not a regular file (symlinks and devices are refused).`);
    // Outputs are data; a set-id bit would make a copy on the host a program that runs as the daemon user.
    if (st.mode & 0o7000)
      throw new BadOutputs(
        `output ${name} has mode ${(st.mode & 0o7777).toString(8)}; set-user-id, set-group-id and sticky bits are refused on outputs.`,
      );
    if (st.size > expect.maxBytes)
      throw new BadOutputs(`output ${name} is ${st.size} bytes, over the ${expect.maxBytes}-byte limit.`);
    return { file: name, size: st.size, sha256: await sha256File(full) };
  };
  const changesFile = await checkFile(changesName);
  const para = parseDeb822(fs.readFileSync(path.join(dir, changesName), 'utf8'), {
    comments: false,
    file: changesName,
  })[0];
  if (!para) throw new BadOutputs(`${changesName} is empty.`);
  if (para.get('source')?.trim().split(/\s+/)[0] !== expect.source)
    throw new BadOutputs(`${changesName} is for source ${para.get('source')}, not ${expect.source}.`);
  if (para.get('version')?.trim() !== expect.version)
    throw new BadOutputs(`${changesName} is for version ${para.get('version')}, not ${expect.version}.`);
  if (expect.architectures) checkCrossBuilt(changesName, para, expect.architectures);
  const listed = (para.get('checksums-sha256') ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (!listed.length) throw new BadOutputs(`${changesName} lists no files under Checksums-Sha256.`);
  for (const line of listed) {
    const [sum, size, name] = line.split(/\s+/);
    if (!sum || !size || !name) throw new BadOutputs(`${changesName} has a malformed Checksums-Sha256 line: ${line}`);
    const f = await checkFile(name);
    if (f.sha256 !== sum || String(f.size) !== size)
      throw new BadOutputs(`output ${name} does not match its checksum in ${changesName}.`);
    files.push(f);
  }
  // reprepro reads the other checksum lists and every .dsc's lists too: each must name only
  // files this list names, or a .changes could bring in a file no check has looked at.
  const checked = new Set(files.map((f) => f.file));
  checkOtherLists(changesName, para, checked);
  for (const dsc of files.filter((f) => f.file.endsWith('.dsc'))) {
    const dscPara = parseDeb822(fs.readFileSync(path.join(dir, dsc.file), 'utf8'), {
      comments: false,
      file: dsc.file,
    })[0];
    if (!dscPara) throw new BadOutputs(`${dsc.file} is empty.`);
    checkOtherLists(dsc.file, dscPara, checked);
  }
  // The .buildinfo is listed in the .changes; nothing else the build left is kept.
  const kept = new Set([...checked, changesName]);
  return {
    changes: changesName,
    files: [...files, changesFile].sort((a, b) => a.file.localeCompare(b.file)),
    leftOut: names.filter((n) => !kept.has(n)).sort(),
  };
}

function checkCrossBuilt(changesName: string, para: Map<string, string>, architectures: string[]): void {
  const claimed = (para.get('architecture') ?? '').trim().split(/\s+/).filter(Boolean);
  const other = claimed.filter((a) => !architectures.includes(a));
  if (!claimed.length || other.length)
    throw new BadOutputs(
      `${changesName} is for architectures "${claimed.join(' ')}"; a cross build for ${architectures.join(' ')} must make packages for it alone.`,
    );
  for (const line of (para.get('checksums-sha256') ?? '').split('\n')) {
    const name = line.trim().split(/\s+/)[2];
    if (!name || name.endsWith('.buildinfo')) continue;
    if (!architectures.some((a) => name.endsWith(`_${a}.deb`) || name.endsWith(`_${a}.udeb`)))
      throw new BadOutputs(
        `${changesName} names ${JSON.stringify(name)}; a cross build for ${architectures.join(' ')} may bring only its .debs and .buildinfo.`,
      );
  }
}

/** Every file named under Files, Checksums-Sha1 and Checksums-Sha256 of `para` must be one of `allowed`. */
function checkOtherLists(fileName: string, para: Map<string, string>, allowed: Set<string>): void {
  for (const field of ['files', 'checksums-sha1', 'checksums-sha256']) {
    for (const line of (para.get(field) ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)) {
      const name = line.split(/\s+/).pop()!;
      if (!allowed.has(name))
        throw new BadOutputs(
          `${fileName} names ${JSON.stringify(name)} under ${field}, which is not one of the checked outputs listed under Checksums-Sha256 of the .changes.`,
        );
    }
  }
}
