import { PocketbuildError } from '../util/errors.js';
import type { RepoReader } from './object-store.js';
import { corruptObject, shortOid } from './repo-errors.js';

/** The kind of a tree entry, from its git mode. */
export type EntryKind = 'tree' | 'file' | 'exec' | 'symlink' | 'submodule';

/** One entry of a git tree object, its name kept as raw bytes (git names need not be UTF-8). */
export interface TreeEntry {
  name: Buffer;
  kind: EntryKind;
  oid: string;
}

/** Read and parse tree `oid`, failing clearly when it is missing or not a tree. */
export async function readTree(repo: RepoReader, oid: string): Promise<TreeEntry[]> {
  const obj = await repo.read(oid);
  if (!obj) throw corruptObject(repo.gitdir, 'tree', oid, 'is missing');
  if (obj.type !== 'tree') {
    throw new PocketbuildError('NotATree', `object ${shortOid(oid)} in ${repo.label} is a ${obj.type}, not a tree.`, {
      gitdir: repo.gitdir,
      oid,
      type: obj.type,
    });
  }
  return parseTree(repo.gitdir, oid, obj.content);
}

/**
 * The entry at `p` below tree `treeOid`, not following symlinks; null when some component
 * is absent. An empty path yields the tree itself.
 */
export async function lookupPath(repo: RepoReader, treeOid: string, p: string): Promise<TreeEntry | null> {
  let entry: TreeEntry = { name: Buffer.alloc(0), kind: 'tree', oid: treeOid };
  for (const part of splitTreePath(p)) {
    if (entry.kind !== 'tree') return null;
    const want = Buffer.from(part, 'utf8');
    const next = (await readTree(repo, entry.oid)).find((e) => e.name.equals(want));
    if (!next) return null;
    entry = next;
  }
  return entry;
}

/** Parse a raw tree object. Names are not checked here; callers that write to disk must. */
export function parseTree(gitdir: string, oid: string, content: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(0x20, at);
    const nul = space === -1 ? -1 : content.indexOf(0, space + 1);
    if (space === -1 || nul === -1 || nul + 21 > content.length)
      throw corruptObject(gitdir, 'tree', oid, `is truncated at byte ${at}`);
    const modeText = content.toString('latin1', at, space);
    if (!/^[0-7]{5,6}$/.test(modeText))
      throw corruptObject(gitdir, 'tree', oid, `has a bad mode ${JSON.stringify(modeText)}`);
    const mode = parseInt(modeText, 8);
    let kind: EntryKind;
    // Canonicalised as git does: any regular-file mode counts, the owner x bit decides.
    switch (mode & 0o170000) {
      case 0o040000:
        kind = 'tree';
        break;
      case 0o100000:
        kind = mode & 0o100 ? 'exec' : 'file';
        break;
      case 0o120000:
        kind = 'symlink';
        break;
      case 0o160000:
        kind = 'submodule';
        break;
      default:
        throw corruptObject(gitdir, 'tree', oid, `has an unknown mode ${modeText}`);
    }
    entries.push({ name: content.subarray(space + 1, nul), kind, oid: content.toString('hex', nul + 1, nul + 21) });
    at = nul + 21;
  }
  return entries;
}

/** Split a repository-relative path, refusing anything that could step outside the tree. */
function splitTreePath(p: string): string[] {
  const parts = p.split('/').filter((c) => c !== '');
  if (parts.some((c) => c === '.' || c === '..')) {
    throw new PocketbuildError('BadPath', `path ${JSON.stringify(p)} must not contain "." or ".." components.`, {
      path: p,
    });
  }
  return parts;
}
