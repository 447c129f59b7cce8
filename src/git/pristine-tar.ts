import { NotFoundError, PocketbuildError } from '../util/errors.js';
import { RepoReader } from './object-store.js';
import { shortOid } from './repo-errors.js';
import { peel, readRef, rootTree } from './resolve.js';
import { readTree } from './tree.js';

/** What the pristine-tar branch stores for one upstream tarball. */
export interface PristineTarEntry {
  /** File name of the tarball, e.g. `hello_2.10.orig.tar.gz`. */
  tarball: string;
  /** The content of `<tarball>.delta`, for `pristine-tar gentar`. */
  delta: Buffer;
  /** The upstream commit or tree id from `<tarball>.id`; present in the repository. */
  id: string;
}

const BRANCH = 'refs/heads/pristine-tar';
/** In this order of preference when, unusually, more than one is stored for a version. */
const COMPRESSIONS = ['gz', 'xz', 'bz2', 'lzma'] as const;

/**
 * Look up the upstream tarball `<source>_<upstreamVersion>.orig.tar.*` on the pristine-tar
 * branch. Null when there is no such branch or no entry for that version; an entry that is
 * half there, or names an upstream id the repository lacks, is an error.
 */
export async function findPristineTar(gitdir: string, source: string, upstreamVersion: string): Promise<PristineTarEntry | null> {
  for (const [what, value] of [
    ['source package name', source],
    ['upstream version', upstreamVersion],
  ] as const) {
    // Both come from debian/changelog, which is the pusher's to write.
    if (value === '' || /[/\0]/.test(value) || value.startsWith('.')) {
      throw new PocketbuildError('BadPristineTarName', `${JSON.stringify(value)} is not a usable ${what} for finding a pristine-tar tarball.`, {
        gitdir,
        source,
        upstreamVersion,
      });
    }
  }
  const head = await readRef(gitdir, BRANCH);
  if (head === null) return null;
  const repo = new RepoReader(gitdir);
  const entries = await readTree(repo, await rootTree(repo, head));
  const byName = new Map(entries.map((e) => [e.name.toString('utf8'), e]));
  for (const ext of COMPRESSIONS) {
    const tarball = `${source}_${upstreamVersion}.orig.tar.${ext}`;
    const deltaEntry = byName.get(`${tarball}.delta`);
    if (!deltaEntry) continue;
    const idEntry = byName.get(`${tarball}.id`);
    const broken = (why: string) =>
      new PocketbuildError('BrokenPristineTar', `the pristine-tar branch of ${repo.label} ${why}; re-run pristine-tar commit for ${tarball} and push again.`, {
        gitdir,
        tarball,
        branch: head,
      });
    if (!idEntry) throw broken(`has ${tarball}.delta but no ${tarball}.id`);
    const readFile = async (name: string, oid: string, kind: string): Promise<Buffer> => {
      if (kind !== 'file' && kind !== 'exec') throw broken(`has ${name} as something other than a regular file`);
      const obj = await repo.read(oid);
      if (!obj || obj.type !== 'blob') throw broken(`has an unreadable ${name}`);
      return obj.content;
    };
    const delta = await readFile(`${tarball}.delta`, deltaEntry.oid, deltaEntry.kind);
    const id = (await readFile(`${tarball}.id`, idEntry.oid, idEntry.kind)).toString('latin1').trim();
    if (!/^[0-9a-f]{40}$/.test(id)) throw broken(`has a ${tarball}.id that does not hold an object id`);
    const upstream = await peel(repo, id);
    if (upstream === null) {
      throw new NotFoundError(
        `${tarball} on the pristine-tar branch of ${repo.label} is made from upstream ${shortOid(id)}, which is not in the repository; push the upstream branch and tags too.`,
        { gitdir, tarball, id },
      );
    }
    if (upstream.type !== 'commit' && upstream.type !== 'tree') throw broken(`has a ${tarball}.id naming a ${upstream.type}`);
    return { tarball, delta, id };
  }
  return null;
}
