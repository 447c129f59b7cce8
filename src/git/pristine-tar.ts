import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { mangleVersionForGitTag } from '../debian/version.js';
import { NotFoundError, PocketbuildError } from '../util/errors.js';
import { RepoReader } from './object-store.js';
import { shortOid } from './repo-errors.js';
import { peel, readRef, rootTree } from './resolve.js';
import { readTree, type TreeEntry } from './tree.js';
import { countFiles } from '../util/count-files.js';

/** What the pristine-tar branch stores for one upstream tarball. */
export interface PristineTarEntry {
  /** File name of the tarball, e.g. `hello_2.10.orig.tar.gz` or `hello_2.10.orig-doc.tar.xz`. */
  tarball: string;
  /** The content of `<tarball>.delta`, for `pristine-tar gentar`. */
  delta: Buffer;
  /** The upstream commit or tree id from `<tarball>.id`. */
  id: string;
  /** For an `orig-COMPONENT` tarball, COMPONENT; absent for the main tarball. */
  component?: string;
  /** The content of `<tarball>.asc` (the upstream signature), when the branch has one. */
  signature?: Buffer;
  /**
   * Set when `id` itself is not in the repository but is, hash for hash, the tree of `ref`
   * without its top-level component directories `without`. gbp records the main tarball of a
   * package with components that way, as a tree made for the occasion that no commit holds,
   * so a `git push` does not carry it; export `tree` and remove those directories instead.
   */
  rebuiltFrom?: { ref: string; tree: string; without: string[] };
}

const BRANCH = 'refs/heads/pristine-tar';
/** In this order of preference when, unusually, more than one is stored for a version. */
const COMPRESSIONS = ['gz', 'xz', 'bz2', 'lzma'] as const;
/** The component names pocketbuild accepts in `orig-COMPONENT` (dpkg-source's, without upper case). */
const COMPONENT = /^[a-z0-9][a-z0-9-]*$/;

/**
 * Every upstream tarball of `<source>_<upstreamVersion>` on the pristine-tar branch: the main
 * `.orig.tar.*` first, then each `.orig-COMPONENT.tar.*` sorted by component name, each with
 * its `.asc` when the branch has one. Empty when there is no such branch or no entry for that
 * version; an entry that is half there, names an upstream id the repository lacks, or has a
 * component name dpkg-source would not take, is an error.
 */
export async function findPristineTarballs(
  gitdir: string,
  source: string,
  upstreamVersion: string,
): Promise<PristineTarEntry[]> {
  for (const [what, value] of [
    ['source package name', source],
    ['upstream version', upstreamVersion],
  ] as const) {
    // Both come from debian/changelog, which is the pusher's to write.
    if (value === '' || /[/\0]/.test(value) || value.startsWith('.')) {
      throw new PocketbuildError(
        'BadPristineTarName',
        `${JSON.stringify(value)} is not a usable ${what} for finding a pristine-tar tarball.`,
        {
          gitdir,
          source,
          upstreamVersion,
        },
      );
    }
  }
  const head = await readRef(gitdir, BRANCH);
  if (head === null) return [];
  const repo = new RepoReader(gitdir);
  const entries = await readTree(repo, await rootTree(repo, head));
  const byName = new Map(entries.map((e) => [e.name.toString('utf8'), e]));
  const base = `${source}_${upstreamVersion}.orig`;
  const broken = (tarball: string, why: string) =>
    new PocketbuildError(
      'BrokenPristineTar',
      `the pristine-tar branch of ${repo.label} ${why}; re-run pristine-tar commit for ${tarball} and push again.`,
      {
        gitdir,
        tarball,
        branch: head,
      },
    );
  const pick = (stem: string): string | undefined =>
    COMPRESSIONS.map((ext) => `${stem}.tar.${ext}`).find((t) => byName.has(`${t}.delta`));

  const main = pick(base);
  const components = new Map<string, string>();
  const componentPrefix = `${base}-`;
  for (const name of byName.keys()) {
    if (!name.startsWith(componentPrefix) || !name.endsWith('.delta')) continue;
    const m = /^(.*)\.tar\.(gz|xz|bz2|lzma)\.delta$/s.exec(name.slice(componentPrefix.length));
    if (!m) continue;
    const component = m[1]!;
    if (!COMPONENT.test(component)) {
      throw new PocketbuildError(
        'BadPristineTarName',
        `the pristine-tar branch of ${repo.label} has ${JSON.stringify(name)}, whose component name ${JSON.stringify(component)} is not lower-case letters, digits and hyphens (starting with a letter or digit); rename the component tarball and commit it again with pristine-tar.`,
        { gitdir, name, component },
      );
    }
    if (!components.has(component)) components.set(component, pick(`${componentPrefix}${component}`)!);
  }
  if (main === undefined) {
    if (components.size === 0) return [];
    const first = [...components.values()][0]!;
    throw broken(
      `${base}.tar.gz`,
      `has ${first}.delta but no ${base}.tar.* for the main upstream tarball of ${upstreamVersion}`,
    );
  }

  const readFile = async (tarball: string, name: string, entry: TreeEntry): Promise<Buffer> => {
    if (entry.kind !== 'file' && entry.kind !== 'exec')
      throw broken(tarball, `has ${name} as something other than a regular file`);
    const obj = await repo.read(entry.oid);
    if (!obj || obj.type !== 'blob') throw broken(tarball, `has an unreadable ${name}`);
    return obj.content;
  };
  const names = [...components.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const found: PristineTarEntry[] = [];
  for (const [tarball, component] of [
    [main, undefined] as const,
    ...names.map((c) => [components.get(c)!, c] as const),
  ]) {
    const deltaEntry = byName.get(`${tarball}.delta`)!;
    const idEntry = byName.get(`${tarball}.id`);
    if (!idEntry) throw broken(tarball, `has ${tarball}.delta but no ${tarball}.id`);
    const delta = await readFile(tarball, `${tarball}.delta`, deltaEntry);
    const id = (await readFile(tarball, `${tarball}.id`, idEntry)).toString('latin1').trim();
    if (!/^[0-9a-f]{40}$/.test(id)) throw broken(tarball, `has a ${tarball}.id that does not hold an object id`);
    const sigEntry = byName.get(`${tarball}.asc`);
    const signature = sigEntry ? await readFile(tarball, `${tarball}.asc`, sigEntry) : undefined;
    const entry: PristineTarEntry = { tarball, delta, id };
    if (component !== undefined) entry.component = component;
    if (signature !== undefined) entry.signature = signature;
    const upstream = await peel(repo, id);
    if (upstream === null) {
      const rebuilt =
        component === undefined && names.length > 0 ? await rebuildMainTree(repo, id, upstreamVersion, names) : null;
      if (rebuilt === null) {
        throw new NotFoundError(
          `${tarball} on the pristine-tar branch of ${repo.label} is made from upstream ${shortOid(id)}, which is not in the repository; push the upstream branch and tags too` +
            (names.length > 0 && component === undefined
              ? ` (gbp records the main tarball of a package with component tarballs as the upstream tree without the component directories, which pocketbuild finds from the tag upstream/${safeTagVersion(upstreamVersion)} or the branch upstream).`
              : '.'),
          { gitdir, tarball, id },
        );
      }
      entry.rebuiltFrom = rebuilt;
    } else if (upstream.type !== 'commit' && upstream.type !== 'tree') {
      throw broken(tarball, `has a ${tarball}.id naming a ${upstream.type}`);
    }
    found.push(entry);
  }
  return found;
}

function safeTagVersion(v: string): string {
  try {
    return mangleVersionForGitTag(v);
  } catch {
    return v;
  }
}

/**
 * gbp's main tree for a package with components (`tree_drop_dirs`): the upstream tree without
 * the top-level directories named after the components. Recomputed from the upstream tag or
 * branch and accepted only when its object id is exactly `id`.
 */
async function rebuildMainTree(
  repo: RepoReader,
  id: string,
  upstreamVersion: string,
  components: string[],
): Promise<PristineTarEntry['rebuiltFrom'] | null> {
  const refs = [
    `refs/tags/upstream/${safeTagVersion(upstreamVersion)}`,
    'refs/heads/upstream',
    'refs/heads/upstream/latest',
  ];
  const drop = new Set(components);
  for (const ref of refs) {
    let target: string | null;
    try {
      target = await readRef(repo.gitdir, ref);
    } catch {
      continue;
    }
    if (target === null) continue;
    let tree: string;
    try {
      tree = await rootTree(repo, target);
    } catch {
      continue;
    }
    const obj = await repo.read(tree);
    if (!obj || obj.type !== 'tree') continue;
    // The raw entries kept byte for byte, as `git mktree` writes the ones gbp keeps.
    const kept: Buffer[] = [];
    const without: string[] = [];
    let at = 0;
    const raw = obj.content;
    while (at < raw.length) {
      const space = raw.indexOf(0x20, at);
      const nul = space === -1 ? -1 : raw.indexOf(0, space + 1);
      if (space === -1 || nul === -1 || nul + 21 > raw.length) break;
      const mode = raw.toString('latin1', at, space);
      const name = raw.toString('latin1', space + 1, nul);
      if (mode === '40000' && drop.has(name)) without.push(name);
      else kept.push(raw.subarray(at, nul + 21));
      at = nul + 21;
    }
    if (at !== raw.length || without.length === 0) continue;
    const content = Buffer.concat(kept);
    const oid = createHash('sha1').update(`tree ${content.length}\0`).update(content).digest('hex');
    if (oid === id) return { ref, tree, without };
  }
  return null;
}

/**
 * Export the upstream tree a pristine-tar entry was made from into `dest` (missing or empty),
 * as `pristine-tar checkout` exports its `.id` with `git archive`.
 */
export async function exportPristineTarUpstream(
  gitdir: string,
  entry: PristineTarEntry,
  dest: string,
  // pristine-tar exports with `git archive`, whose .gitattributes conversions a plain export
  // lacks: the caller passes an exporter that behaves like it.
  exporter: (gitdir: string, id: string, dest: string) => Promise<{ files: number }>,
): Promise<{ files: number }> {
  if (!entry.rebuiltFrom) return exporter(gitdir, entry.id, dest);
  const { files } = await exporter(gitdir, entry.rebuiltFrom.tree, dest);
  let removed = 0;
  for (const name of entry.rebuiltFrom.without) {
    // Names checked against COMPONENT by findPristineTarballs, and known to be trees.
    if (!COMPONENT.test(name)) throw new Error(`bad component name ${name}`);
    const dir = path.join(dest, name);
    removed += countFiles(dir);
    fs.rmSync(dir, { recursive: true });
  }
  return { files: files - removed };
}

// ---------------------------------------------------------------------------------------------
// What `pristine-tar checkout` adds to `pristine-tar gentar`: create_missing.
//
// pristine-tar (1.50, recreatetarball in /usr/bin/pristine-tar) rebuilds a plain tarball from
// the delta's `manifest` (the original's `tar --quoting-style=escape -tf`, leading `./` and
// `/` removed, one name a line) and the upstream tree, then applies the binary delta. When
// every manifest line starts with the same first component, it takes that to be the tree's top
// directory. For each line, unquoted: a symlink in the tree is replaced by an empty file; a
// name the tree lacks is, with create_missing (which `checkout` and `commit` pass, and `gentar`
// does not), created as a directory with `mkpath`, parents included. Everything is then
// archived with `tar --no-recursion --files-from` the unquoted names, mode 0644, owner 0, mtime
// 0. So `gentar` alone dies on any name git could not hold (an empty directory), while the
// delta was computed, at commit time, against a tarball where those names were directories.
// createMissingFromManifest does the creating beforehand, so that `gentar` then rebuilds the
// very tarball `checkout` would.

/** pristine-tar's unquote_filename (note its `\v`, which it turns into 0x11, not 0x0b). */
const ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\x11',
  '\\': '\\',
};

function unquote(line: string): string {
  return line.replace(/\\([abfnrtv\\]|[0-9]{3})/g, (_, e: string) => {
    const simple = ESCAPES[e];
    if (simple !== undefined) return simple;
    // Perl's oct() reads the leading octal digits and ignores the rest ("089" is 0).
    const code = parseInt(/^[0-7]*/.exec(e)![0] || '0', 8);
    if (code > 0xff) throw new RangeError(`\\${e} is not a byte`);
    return String.fromCharCode(code);
  });
}

/** pristine-tar 1.49's unquoting, which gentar still tries second for deltas that version made. */
function buggyUnquote(line: string): string {
  return line
    .replace(/\\a/g, '\x07')
    .replace(/\\b/g, '\b')
    .replace(/\\f/g, '\f')
    .replace(/\\n/g, '\n')
    .replace(/\\r/g, '\r')
    .replace(/\\t/g, '\t')
    .replace(/\\v/g, '\x11')
    .replace(/\\\\/g, '\\');
}

export interface ManifestContext {
  /** The tarball whose manifest this is, for messages. */
  tarball: string;
  /** The repository's name as users know it, for messages. */
  label: string;
}

/**
 * Create in `upstreamDir` (the exported upstream tree, a directory this process made) the
 * directories pristine-tar's create_missing would create for `manifest` (the delta's
 * `manifest` member, raw bytes). The manifest is repository data: a name that is absolute,
 * has a `..` component, lies outside the tarball's top directory, contains a NUL byte, or
 * passes through a symlink or a file, is refused with `UnsafePristineTarManifest` before
 * anything is created, and nothing is ever created outside `upstreamDir`. Returns the
 * directories created for the manifest's names, relative to `upstreamDir`, in creation order
 * (as latin1 strings of the names' bytes); not listed are those made for the names as
 * pristine-tar 1.49 misread them (a backslash escape kept literally), which gentar's second
 * attempt, for deltas of that version, looks for and its first attempt ignores.
 */
export function createMissingFromManifest(manifest: Buffer, upstreamDir: string, ctx: ManifestContext): string[] {
  // Perl reads the lines with <IN> and chomp: split on \n; text after the last \n is a line.
  const text = manifest.toString('latin1');
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

  // pristine-tar's common-subdirectory test, on the lines as written (still quoted).
  let subdir = '';
  for (const line of lines) {
    const m = /^(\/?[^/]+)(\/|$)/.exec(line);
    if (!m) {
      subdir = '';
      break;
    }
    if (subdir !== '' && subdir !== m[1]) {
      subdir = '';
      break;
    }
    if (subdir === '') subdir = m[1]!;
  }

  const refuse = (line: string, why: string) =>
    new PocketbuildError(
      'UnsafePristineTarManifest',
      `the pristine-tar delta of ${ctx.tarball} in ${ctx.label} lists ${JSON.stringify(line)}, which ${why}; pocketbuild regenerates no tarball from it. Re-create the delta with pristine-tar commit from the real upstream tarball and push the pristine-tar branch again.`,
      { tarball: ctx.tarball, entry: line },
    );
  const components = (name: string, line: string): string[] => {
    if (name.includes('\0')) throw refuse(line, 'contains a NUL byte');
    if (name.startsWith('/')) throw refuse(line, 'is an absolute path');
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw refuse(line, 'has a ".." component');
    return parts;
  };
  const top = subdir === '' ? [] : components(subdir, subdir);

  // Planned first, so that an unsafe entry anywhere refuses the whole manifest before any change.
  const plan: { parts: string[]; line: string; strict: boolean }[] = [];
  for (const line of lines) {
    let name: string;
    try {
      name = unquote(line);
    } catch {
      throw refuse(line, 'has an octal escape beyond a byte');
    }
    const parts = components(name, line);
    if (top.some((p, i) => parts[i] !== p)) {
      // A top directory whose name tar escaped (`caf\303\251-1.0` when pristine-tar commit ran
      // in the C locale): pristine-tar puts the tree under the escaped name and everything
      // under the unescaped one, which gentar cannot be made to do.
      if (subdir.includes('\\')) {
        throw refuse(
          line,
          `lies outside the directory ${JSON.stringify(subdir)} that pristine-tar takes for the tarball's top directory, because tar escaped that name when the delta was made (pristine-tar commit in the C locale)`,
        );
      }
      throw refuse(line, `lies outside the tarball's top directory ${JSON.stringify(subdir)}`);
    }
    plan.push({ parts: parts.slice(top.length), line, strict: true });
    // gentar's second attempt unquotes as pristine-tar 1.49 did, and checkout creates what that
    // attempt finds missing too. Creating those names early changes nothing in the first
    // attempt's tarball, which holds only the manifest's names. Only taken when harmless.
    const old = buggyUnquote(line);
    if (old !== name && !old.includes('\0') && !old.startsWith('/')) {
      const oldParts = old.split('/').filter((p) => p !== '' && p !== '.');
      if (!oldParts.includes('..') && top.every((p, i) => oldParts[i] === p))
        plan.push({ parts: oldParts.slice(top.length), line, strict: false });
    }
  }

  const root = fs.lstatSync(upstreamDir);
  if (!root.isDirectory()) throw new Error(`${upstreamDir} is not a directory`);
  const rootBytes = Buffer.from(upstreamDir);
  const at = (rel: string) => Buffer.concat([rootBytes, Buffer.from(`/${rel}`, 'latin1')]);
  const created: string[] = [];
  type Kind = 'dir' | 'symlink' | 'other' | 'missing';
  /** Relative path -> what is there, as far as this function has looked or made it. */
  const known = new Map<string, Kind>();
  // Only ever called on a path whose parent is known to be a real directory (or one to be
  // made), so lstat never passes through a symlink.
  const look = (rel: string): Kind => {
    let kind = known.get(rel);
    if (kind === undefined) {
      try {
        const st = fs.lstatSync(at(rel));
        kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        kind = 'missing';
      }
      known.set(rel, kind);
    }
    return kind;
  };
  // Two passes: everything is looked at (lstat only, what is to be made counted as made)
  // and refused if need be, then the directories are made.
  const todo: { rel: string; strict: boolean }[] = [];
  for (const { parts, line, strict } of plan) {
    // pristine-tar tests the name itself: a symlink (`-l`) becomes an empty file and anything
    // that exists (`-e`) is left alone; a missing name is made with mkpath, parents included.
    // Walked from the top here, so that a symlink on the way is refused, never followed; a
    // file on the way makes pristine-tar's mkpath die as well.
    const mine: string[] = [];
    let blocked: { rel: string; kind: Kind } | null = null;
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (mine.length > 0) {
        mine.push(rel);
        continue;
      }
      const kind = look(rel);
      if (kind === 'missing') mine.push(rel);
      else if (kind !== 'dir' && i < parts.length) {
        blocked = { rel, kind };
        break;
      }
    }
    if (blocked) {
      if (!strict) continue;
      throw refuse(
        line,
        `lies below ${JSON.stringify(blocked.rel)}, which is ${blocked.kind === 'symlink' ? 'a symlink' : 'not a directory'} in the upstream tree`,
      );
    }
    for (const rel of mine) {
      known.set(rel, 'dir');
      todo.push({ rel, strict });
    }
  }
  for (const { rel, strict } of todo) {
    // Not recursive, under a real directory (this tree's, or one just made): never follows a link.
    fs.mkdirSync(at(rel), 0o755);
    if (strict) created.push(rel);
  }
  return created;
}
