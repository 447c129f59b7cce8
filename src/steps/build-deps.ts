import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { PocketbuildError } from '../util/errors.js';
import { STALE_SECONDS, withLock } from '../util/lock.js';
import { run, runChecked, type RunResult } from '../util/run.js';
import { sha256File } from '../util/sha256-file.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { writePrivateAptConfig, type AptSource } from '../debian/private-apt.js';
import { hostArch } from '../util/host-arch.js';

export type { AptSource };

/**
 * The apt cache of one Debian release, `<cache_dir>/apt/<distribution>`: its mirror lists,
 * downloaded .debs and resolutions. One per release, so pockets of two releases never make each
 * other fetch the mirror's lists again; one per release and cross-built architecture, whose
 * lists hold that architecture's packages too.
 */
export function aptCacheDir(config: { cache_dir: string }, distribution: string, crossArch?: string): string {
  return path.join(config.cache_dir, 'apt', crossArch ? `${distribution}+${crossArch}` : distribution);
}

export interface FetchBuildDepsOptions {
  /** The unpacked base: its dpkg status says what is installed already. */
  baseRoot: string;
  /** The exported source tree (has debian/control). */
  sourceDir: string;
  /** `<cache_dir>/apt`: lists and downloaded .debs shared by every build, guarded by a lock. */
  cacheDir: string;
  sources: AptSource[];
  /** Extra binary packages the build needs beyond Build-Depends (fakeroot for Rules-Requires-Root). */
  extra: string[];
  /** Active build profiles (DEB_BUILD_PROFILES), which change what Build-Depends asks for. */
  profiles?: string[];
  /** Receives exactly the resolved .debs and a `Packages` index for an offline apt inside the sandbox. */
  destDir: string;
  log: Writable;
  timeoutMs: number;
  /** Wraps `apt-get update`, so the pocket's own indices are not rewritten while apt reads them. */
  whileReadingSources?: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * Lists of remote sources younger than this are not fetched again (the `file:` ones, the
   * pocket's own repository, always are). @defaultValue 0: every build fetches them all.
   */
  listsMaxAgeMs?: number;
  /**
   * Told the resolved set (hashes from the archive's index) before anything is downloaded;
   * false when the caller has those exact packages already (a cached dependency layer), and
   * then only the set is returned, with no .debs in destDir.
   */
  needFiles?: (indexed: ResolvedDeb[]) => Promise<boolean>;
  /**
   * Resolve for a cross build to this architecture (`build-dep -a ARCH`): the build tools are
   * the host's, the libraries built against are ARCH's. Give each its own cacheDir: the
   * lists then include ARCH's, which native builds need not fetch.
   */
  crossArch?: string;
}

/** Records when the remote sources' lists were last fetched, and which sources they were. */
const LISTS_STAMP = 'remote-lists.json';

function sourcesLine(s: AptSource): string {
  return `deb [signed-by=${s.signedBy}] ${s.uri} ${s.suite} ${s.components.join(' ')}\n`;
}

/** One resolved build-dependency, pinned by the sha256 of the exact file installed. */
export interface ResolvedDeb {
  name: string;
  version: string;
  arch: string;
  file: string;
  sha256: string;
  uri: string;
}

export class BuildDepsUnsatisfiable extends PocketbuildError {
  constructor(detail: string, unmet: UnmetDependency[] = []) {
    super(
      'BuildDepsUnsatisfiable',
      `the build-dependencies cannot be satisfied from the configured archive and the pocket: ${detail}`,
      { detail, unmet },
    );
  }
}

/** One build-dependency apt could not satisfy, as its resolver reported it. */
export interface UnmetDependency {
  /** As written in debian/control, e.g. `libfoo-dev (>= 2.1)`. */
  relation: string;
  name: string;
  /** apt's own words after "but", e.g. `it is not installable`, `2.0-1 is to be installed`. */
  apt?: string;
}

/**
 * The unmet relations from apt's "The following packages have unmet dependencies" block of
 * a build-dep run (`builddeps:DIR : Depends: X but …` and its continuation lines); the
 * directory, a server path, is dropped.
 */
export function parseUnmet(output: string): UnmetDependency[] {
  const out: UnmetDependency[] = [];
  for (const m of output.matchAll(/^\s*(?:builddeps:\S+ :\s+)?(?:Pre)?Depends: (.+?)(?: but (.+))?$/gm)) {
    const relation = m[1]!.trim();
    out.push({ relation, name: relation.split(/[\s(:]/)[0]!, ...(m[2] ? { apt: m[2].trim() } : {}) });
  }
  return out;
}

/** One unmet relation in words a packager can act on, given the version apt would pick for its name (if any). */
export function explainUnmet(u: UnmetDependency, candidate: string | undefined): string {
  if (!candidate || candidate === '(none)')
    return `${u.relation}: no package ${u.name} in the archive's configured suite and components nor in the pocket`;
  // apt names the version it would install; when that is the only one there, the constraint asks for another.
  const toInstall = /^(\S+) is to be installed$/.exec(u.apt ?? '')?.[1];
  if (u.relation.includes('(') && (!u.apt || toInstall === candidate))
    return `${u.relation}: only ${u.name} ${candidate} is available`;
  if (u.apt && u.apt !== 'it is not installable') return `${u.relation}: ${u.apt} (available: ${u.name} ${candidate})`;
  return `${u.relation}: ${u.name} ${candidate} exists but cannot be installed (${u.apt ?? 'its own dependencies conflict'})`;
}

/**
 * Resolve and download the build-dependencies outside the sandbox, as the unprivileged
 * daemon user with a private APT configuration (the host's apt state is never touched).
 * The sandbox then installs this exact set with no network. When the mirror's lists were
 * kept from an earlier build and resolving or downloading fails, it is tried once more with
 * fresh lists: the mirror may have moved on (a version dropped, a newer one needed).
 */
export async function fetchBuildDeps(o: FetchBuildDepsOptions): Promise<ResolvedDeb[]> {
  const attempt = { keptLists: false };
  try {
    return await fetchOnce(o, attempt);
  } catch (e) {
    if (!attempt.keptLists || !(e instanceof PocketbuildError)) throw e;
    o.log.write(`build-deps: ${e.code} with package lists kept from earlier; fetching them again\n`);
    return fetchOnce({ ...o, listsMaxAgeMs: 0 }, attempt);
  }
}

function readStamp(file: string): { sources: string; at: number } | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as { sources?: unknown; at?: unknown };
    return typeof v.sources === 'string' && typeof v.at === 'number' ? { sources: v.sources, at: v.at } : null;
  } catch {
    return null;
  }
}

async function fetchOnce(o: FetchBuildDepsOptions, attempt: { keptLists: boolean }): Promise<ResolvedDeb[]> {
  fs.mkdirSync(o.destDir, { recursive: true });
  return withLock(
    o.cacheDir,
    async () => {
      const aptConfig = writePrivateAptConfig({
        dir: o.cacheDir,
        status: path.join(o.baseRoot, 'var/lib/dpkg/status'),
        sources: o.sources,
        ...(o.crossArch ? { architectures: [hostArch(), o.crossArch] } : {}),
      });
      const buildDep = (flags: string[]) => ['build-dep', ...(o.crossArch ? ['-a', o.crossArch] : []), ...flags];
      const env: NodeJS.ProcessEnv = { ...process.env, APT_CONFIG: aptConfig, LC_ALL: 'C.UTF-8' };
      // apt reads the active profiles from the environment, like dpkg-buildpackage inside.
      delete env.DEB_BUILD_PROFILES;
      if (o.profiles?.length) env.DEB_BUILD_PROFILES = o.profiles.join(' ');
      const apt = (args: string[], extraOpts: string[] = []) =>
        run(['apt-get', '-q', ...extraOpts, ...args], { env, timeoutMs: o.timeoutMs, log: o.log });
      const checked = async (r: Promise<RunResult>, what: string) => {
        const res = await r;
        if (res.code !== 0) {
          const err = res.stdout
            .split('\n')
            .concat(res.stderr.split('\n'))
            .filter((l) => /^E: |unmet|Depends:/.test(l.trim()));
          if (what === 'resolve') {
            const unmet = parseUnmet(`${res.stdout}\n${res.stderr}`);
            if (!unmet.length) throw new BuildDepsUnsatisfiable(err.join(' ').trim() || res.how);
            const candidates = await Promise.all(
              unmet.map(async (u) => {
                const policy = await run(['apt-cache', 'policy', u.name], { env, timeoutMs: 60_000 });
                return /^\s+Candidate: (\S+)/m.exec(policy.stdout)?.[1];
              }),
            );
            throw new BuildDepsUnsatisfiable(unmet.map((u, i) => explainUnmet(u, candidates[i])).join('; '), unmet);
          }
          throw new PocketbuildError('AptFailed', `apt-get ${what} ${res.how}: ${err.join(' ').trim()}`);
        }
        return res;
      };
      const consistently = o.whileReadingSources ?? ((fn) => fn());
      const remote = o.sources
        .filter((x) => !x.uri.startsWith('file:'))
        .map(sourcesLine)
        .join('');
      const stampFile = path.join(o.cacheDir, LISTS_STAMP);
      const updateAll = async () => {
        o.log.write('build-deps: updating package lists\n');
        await consistently(() => checked(apt(['update']), 'update'));
        fs.writeFileSync(stampFile, JSON.stringify({ sources: remote, at: Date.now() }));
      };
      const stamp = readStamp(stampFile);
      const age = stamp && stamp.sources === remote ? Date.now() - stamp.at : Infinity;
      attempt.keptLists = age < (o.listsMaxAgeMs ?? 0);
      if (!attempt.keptLists) await updateAll();
      else {
        // Only the local sources; List-Cleanup off keeps the mirror's lists, which a partial
        // sources.list would otherwise have apt delete as unused.
        const local = path.join(o.cacheDir, 'etc', 'local-sources.list');
        fs.writeFileSync(
          local,
          o.sources
            .filter((x) => x.uri.startsWith('file:'))
            .map(sourcesLine)
            .join(''),
        );
        o.log.write(
          `build-deps: the mirror's package lists are ${Math.round(age / 60_000)} min old (fetched again after ${Math.round((o.listsMaxAgeMs ?? 0) / 60_000)}); updating the pocket's own\n`,
        );
        const only = ['-o', `Dir::Etc::SourceList=${local}`, '-o', 'APT::Get::List-Cleanup=false'];
        await consistently(() => checked(apt(['update'], only), 'update'));
      }

      const wanted = await resolveCached(o, async () => {
        // Listing against an empty archive dir makes apt print every package it would install,
        // including the ones already in the shared cache.
        const probe = fs.mkdtempSync(path.join(o.destDir, '.probe-'));
        fs.mkdirSync(path.join(probe, 'partial'));
        const probeOpt = ['-o', `Dir::Cache::archives=${probe}`];
        const found = new Map<string, WantedDeb>();
        const collect = (r: RunResult) => {
          for (const w of parsePrintUris(r.stdout)) found.set(w.file, w);
        };
        collect(await checked(apt(buildDep(['--print-uris', '-y', o.sourceDir]), probeOpt), 'resolve'));
        if (o.extra.length)
          collect(await checked(apt(['install', '--print-uris', '-y', ...o.extra], probeOpt), 'resolve'));
        fs.rmSync(probe, { recursive: true, force: true });
        const list = [...found.values()];
        // --print-uris names each file by its MD5; the index's SHA256 names it for the layer's key.
        if (list.length) {
          const versions = list.map((w) => {
            const d = debIdentity(w.file);
            return `${d.name}:${d.arch}=${d.version}`;
          });
          const show = await runChecked(['apt-cache', 'show', ...versions], {
            env,
            timeoutMs: 5 * 60_000,
            what: 'apt-cache show',
          });
          addIndexHashes(list, show.stdout);
        }
        return list;
      });
      const indexed = wanted.map((w) => ({ ...debIdentity(w.file), file: w.file, sha256: w.sha256 ?? '', uri: w.uri }));
      if (o.needFiles && wanted.every((w) => w.sha256) && !(await o.needFiles(indexed))) return indexed.sort(byName);

      o.log.write(`build-deps: ${wanted.length} packages to install; downloading what the cache lacks\n`);
      if (wanted.length) {
        await checked(apt(buildDep(['--download-only', '-y', o.sourceDir])), 'download');
        if (o.extra.length) await checked(apt(['install', '--download-only', '-y', ...o.extra]), 'download');
      }
      const archives = path.join(o.cacheDir, 'archives');
      const out: ResolvedDeb[] = [];
      for (const { uri, file } of wanted) {
        const from = uri.startsWith('file:')
          ? decodeURIComponent(uri.slice('file:'.length))
          : path.join(archives, file);
        const to = path.join(o.destDir, file);
        fs.copyFileSync(from, to);
        out.push({ ...debIdentity(file), file, sha256: await sha256File(to), uri });
      }
      const index = await runChecked(['dpkg-scanpackages', '--multiversion', '.'], {
        cwd: o.destDir,
        timeoutMs: 5 * 60_000,
        what: 'dpkg-scanpackages',
      });
      writeFlatIndex(o.destDir, index.stdout);
      return out.sort(byName);
    },
    {
      onWait: () =>
        o.log.write(
          `build-deps: waiting for another build using the package cache (one that died leaves a lock taken over after ${STALE_SECONDS} s)\n`,
        ),
    },
  );
}

/** The Packages index of a flat repository of .debs, and its Release. */
export function writeFlatIndex(dir: string, packages: string): void {
  fs.writeFileSync(path.join(dir, 'Packages'), packages);
  fs.writeFileSync(path.join(dir, 'Release'), flatRelease(packages));
}

/**
 * A Release file for the flat repository of resolved .debs. Without one, apt inside the
 * sandbox guesses at compressed indices that are not there and logs an error for each
 * (`Method gave a blank filename`); with one, it reads exactly the uncompressed Packages.
 */
export function flatRelease(packages: string): string {
  const sha256 = crypto.createHash('sha256').update(packages).digest('hex');
  return [
    'Origin: pocketbuild',
    'Label: build-dependencies',
    `Date: ${new Date().toUTCString()}`,
    'SHA256:',
    ` ${sha256} ${Buffer.byteLength(packages)} Packages`,
    '',
  ].join('\n');
}

/** One package apt would install, as `--print-uris` names it. */
export interface WantedDeb {
  uri: string;
  file: string;
  size: number;
  /** From the archive's index; absent when the index gives no SHA256 (only a weaker or a stronger hash). */
  sha256?: string;
}

/** `'URI' FILE SIZE HASHTYPE:HEX` lines of `apt-get --print-uris`. */
export function parsePrintUris(stdout: string): WantedDeb[] {
  const out: WantedDeb[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^'([^']+)' (\S+) (\d+) (\S+)$/.exec(line);
    if (!m) continue;
    const hash = /^SHA256:([0-9a-f]{64})$/i.exec(m[4]!)?.[1]?.toLowerCase();
    out.push({ uri: m[1]!, file: m[2]!, size: Number(m[3]), ...(hash ? { sha256: hash } : {}) });
  }
  return out;
}

/**
 * Fill in each wanted file's SHA256 from `apt-cache show` records, matched by package,
 * version, architecture and size. A file with no such record keeps none, and so does one
 * that two sources carry with different contents (a pocket shadowing an archive package at
 * the same version and size): which one apt fetches is then known only from the file.
 */
export function addIndexHashes(wanted: WantedDeb[], records: string): void {
  const bySig = new Map<string, string | null>();
  for (const stanza of records.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}: *(\\S+)$`, 'm').exec(stanza)?.[1];
    const [p, v, a, size, sha] = ['Package', 'Version', 'Architecture', 'Size', 'SHA256'].map(field);
    if (!(p && v && a && size && sha && /^[0-9a-f]{64}$/.test(sha))) continue;
    const sig = `${p} ${v} ${a} ${size}`;
    bySig.set(sig, bySig.has(sig) && bySig.get(sig) !== sha ? null : sha);
  }
  for (const w of wanted) {
    const d = debIdentity(w.file);
    const sha = bySig.get(`${d.name} ${d.version} ${d.arch} ${w.size}`);
    if (sha) w.sha256 = sha;
  }
}

/** Name, version and architecture from a .deb's file name as apt names it (`:` escaped as `%3a`). */
function debIdentity(file: string): { name: string; version: string; arch: string } {
  const [name, version, arch] = file
    .replace(/\.deb$/, '')
    .split('_')
    .map(decodeURIComponent) as [string, string, string];
  return { name, version, arch };
}

const byName = (a: ResolvedDeb, b: ResolvedDeb) => a.name.localeCompare(b.name);

/** How many resolutions are kept; the oldest are dropped beyond it. */
const RESOLUTIONS_KEPT = 500;

/**
 * apt's answer for this package is the same as long as what it was asked and what it read
 * are: debian/control, the profiles, the extra packages, the base's installed set, and the
 * package lists (named by their Release files, which hold the hashes of every index). Any
 * publish into the pocket or refresh of the mirror changes a Release file and so the key.
 * Called with the cache's lock held, after the lists were updated.
 */
async function resolveCached(o: FetchBuildDepsOptions, resolve: () => Promise<WantedDeb[]>): Promise<WantedDeb[]> {
  const lists = path.join(o.cacheDir, 'lists');
  const all = fs.readdirSync(lists).filter((f) => /_(?:In)?Release$/.test(f));
  // The lists dir is shared by every pocket: only this build's sources count, unless one of
  // them cannot be told apart by apt's file naming (then all do, which only costs hits).
  const mine = o.sources.map((x) => all.filter((f) => f.startsWith(listFilePrefix(x))));
  const releases = (mine.every((m) => m.length) ? mine.flat() : all).sort().map((f) => [
    f,
    crypto
      .createHash('sha256')
      .update(fs.readFileSync(path.join(lists, f)))
      .digest('hex'),
  ]);
  const key = crypto
    .createHash('sha256')
    .update(
      JSON.stringify({
        control: fs.readFileSync(path.join(o.sourceDir, 'debian', 'control'), 'utf8'),
        profiles: o.profiles ?? [],
        extra: o.extra,
        sources: o.sources.map(sourcesLine),
        status: fs.readFileSync(path.join(o.baseRoot, 'var/lib/dpkg/status'), 'utf8'),
        releases,
      }),
    )
    .digest('hex');
  const dir = path.join(o.cacheDir, 'resolved');
  const file = path.join(dir, `${key}.json`);
  try {
    const kept = JSON.parse(fs.readFileSync(file, 'utf8')) as WantedDeb[];
    if (Array.isArray(kept)) {
      const now = new Date();
      fs.utimesSync(file, now, now);
      o.log.write(`build-deps: resolved as before (same debian/control and package lists): ${kept.length} packages\n`);
      return kept;
    }
  } catch {
    // Not resolved yet with these inputs, or a damaged entry: resolve again.
  }
  const wanted = await resolve();
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(file, JSON.stringify(wanted));
  pruneOldest(dir, RESOLUTIONS_KEPT);
  return wanted;
}

/** How apt names a source's lists: the URI without its scheme, `/` as `_`, then `dists_SUITE_`. */
function listFilePrefix(x: AptSource): string {
  const where = x.uri.replace(/^[a-z+]+:(?:\/\/)?/, '').replace(/\/+$/, '');
  return `${where}/dists/${x.suite}/`.replace(/\//g, '_');
}

function pruneOldest(dir: string, keep: number): void {
  const entries = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (entries.length <= keep) return;
  const byAge = entries.map((f) => ({ f, t: fs.statSync(path.join(dir, f)).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { f } of byAge.slice(0, entries.length - keep)) fs.rmSync(path.join(dir, f), { force: true });
}
