/**
 * The corpus harness: Debian's own source packages, imported the way a user imports them
 * (`apt-get source`, `gbp import-dsc --pristine-tar`, `git push` to a repository made with
 * `pocketbuild repo create`, `pocketbuild submit`), built by the real daemon into one pocket,
 * then compared with Debian's own binaries of the same source version: the same binary
 * packages, each with the same paths (and symlink targets) inside.
 *
 * Nothing here knows any particular package: the list comes from a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { privateAptOptions, runAs, sharedCacheDir, tempDirForTestUser } from './env.js';
import { TestBuilder } from './builder.js';
import { parseDeb822 } from '../../src/debian/control.js';
import { withLock } from '../../src/util/lock.js';

export interface CorpusEntry {
  name: string;
  /** What the list says the package exercises. */
  notes: string;
  /** Marked `[ci]` in the list: part of the subset that `npm test` builds. */
  ci: boolean;
}

/** `name  # notes [ci]` lines; blank lines and whole-line comments are skipped. */
export function readCorpusList(file: string): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [name, ...rest] = line.split('#');
    const notes = rest.join('#').trim();
    out.push({ name: name!.trim(), notes: notes.replace(/\s*\[ci\]\s*/, ' ').trim(), ci: /\[ci\]/.test(notes) });
  }
  return out;
}

export interface BinaryComparison {
  name: string;
  /** Our file name, if we published one. */
  ours?: string;
  /** Debian's file name, if Debian has one for this source version. */
  debian?: string;
  /** Paths only in ours (+) or only in Debian's (-), `path -> target` for symlinks. */
  differences: string[];
}

export interface CorpusResult {
  package: string;
  version?: string;
  format?: string;
  buildSystem?: string;
  status: string;
  code?: string;
  reason?: string;
  seconds?: number;
  build?: string;
  /** Binary packages Debian builds from this source for amd64 or all (the .dsc's Package-List). */
  expected: string[];
  binaries: BinaryComparison[];
  /** Automatic debug-symbol packages we built; Debian publishes these in a separate archive. */
  debugPackages: string[];
  matched: number;
  match: boolean;
  /** How the import departed from `gbp import-dsc --pristine-tar`, if it had to. */
  importNote?: string;
  /** Why the package does not match, when the build succeeded. */
  mismatch?: string;
  /** The cross-built architecture's packages against Debian's own build of them (--cross). */
  cross?: { arch: string; expected: string[]; binaries: BinaryComparison[]; matched: number };
}

const MIRROR = 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * Debian's archive through a private apt configuration (the host's is never touched):
 * sources (deb-src), and binaries including the installer's udebs.
 */
export class DebianArchive {
  readonly dir: string;
  private readonly opts: string[];

  /** `arch`: whose binaries it compares with (amd64, or a cross-built one, in its own cache). */
  constructor(
    readonly arch = 'amd64',
    dir = path.join(sharedCacheDir(), 'corpus', arch === 'amd64' ? 'apt' : `apt-${arch}`),
  ) {
    this.dir = dir;
    this.opts = privateAptOptions(
      dir,
      [
        `deb-src [signed-by=${KEYRING}] ${MIRROR} ${SUITE} main`,
        `deb [arch=${arch} signed-by=${KEYRING}] ${MIRROR} ${SUITE} main main/debian-installer`,
      ],
      ['-o', `APT::Architecture=${arch}`],
    );
  }

  /** One apt at a time on the shared lists and downloads: test runs may go in parallel. */
  private locked<T>(fn: () => T): Promise<T> {
    return withLock(path.join(this.dir, 'lock'), async () => fn(), { pollMs: 500 });
  }

  update(): Promise<void> {
    return this.locked(() => this.updateUnlocked());
  }

  private updateUnlocked(): void {
    const stamp = path.join(this.dir, 'updated');
    // Lists younger than a day are reused: the corpus pins nothing, so a day-old view is as good.
    if (fs.existsSync(stamp) && Date.now() - fs.statSync(stamp).mtimeMs < 86_400_000) return;
    runAs(['apt-get', '-q', ...this.opts, 'update'], { timeoutMs: 600_000 });
    runAs(['touch', stamp]);
  }

  /** `apt-get source --download-only NAME` into `<cache>/corpus/sources/NAME/`; returns the .dsc. */
  source(name: string): Promise<string> {
    return this.locked(() => this.sourceUnlocked(name));
  }

  private sourceUnlocked(name: string): string {
    const dir = path.join(path.dirname(this.dir), 'sources', name);
    const ready = path.join(dir, 'ready');
    if (!fs.existsSync(ready)) {
      runAs(['rm', '-rf', dir]);
      runAs(['mkdir', '-p', dir]);
      runAs(['apt-get', '-q', ...this.opts, 'source', '--download-only', name], { cwd: dir, timeoutMs: 600_000 });
      runAs(['touch', ready]);
    }
    const dsc = fs.readdirSync(dir).filter((f) => f.endsWith('.dsc'));
    if (dsc.length !== 1) throw new Error(`${dir}: expected one .dsc, found ${dsc.join(', ') || 'none'}`);
    return path.join(dir, dsc[0]!);
  }

  private contents?: Map<string, string[]>;

  /**
   * The paths (files and symlinks; no directories, no link targets) of Debian's udeb `name`,
   * from the archive's Contents-udeb index: used when the mirror does not serve udeb files
   * themselves (as on machines whose mirror carries only what apt installs).
   */
  async udebContents(name: string): Promise<string[] | null> {
    if (!this.contents) {
      const url = `${MIRROR}/dists/${SUITE}/main/Contents-udeb-${this.arch}.gz`;
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      const text = zlib.gunzipSync(Buffer.from(await res.arrayBuffer())).toString('utf8');
      this.contents = new Map();
      for (const line of text.split('\n')) {
        const m = /^(.*\S)\s+(\S+)$/.exec(line);
        if (!m) continue;
        for (const q of m[2]!.split(',')) {
          const pkg = q.slice(q.lastIndexOf('/') + 1);
          const list = this.contents.get(pkg) ?? [];
          list.push(`/${m[1]}`);
          this.contents.set(pkg, list);
        }
      }
    }
    return this.contents.get(name)?.sort() ?? null;
  }

  /**
   * Debian's binary package `name` built from `source` `version` for `arch` or all (a binNMU
   * has its own version, so the match is on the Source field), downloaded; null if the
   * archive has no such build.
   */
  binary(
    name: string,
    source: string,
    version: string,
  ): Promise<{ file: string; binNmu: boolean; inIndexOnly: boolean } | null> {
    return this.locked(() => this.binaryUnlocked(name, source, version));
  }

  private binaryUnlocked(
    name: string,
    source: string,
    version: string,
  ): { file: string; binNmu: boolean; inIndexOnly: boolean } | null {
    const r = runAs(['apt-cache', ...this.opts, 'show', name], { allowFail: true });
    if (r.status !== 0) return null;
    const stanza = parseDeb822(r.stdout, { comments: false, file: `apt-cache show ${name}` }).find((s) => {
      const [src, srcVersion] = sourceOf(s);
      return src === source && srcVersion === version && [this.arch, 'all'].includes(s.get('architecture') ?? '');
    });
    if (!stanza) return null;
    // A binNMU (version +bN) has its own changelog entry, which dpkg installs as changelog.Debian.ARCH.gz.
    const binNmu = stanza.get('version') !== version;
    // apt-get download names the file like its cache does: the epoch's ':' as %3a.
    const ext = path.extname(stanza.get('filename')!);
    const file = `${name}_${stanza.get('version')!.replace(':', '%3a')}_${stanza.get('architecture')}${ext}`;
    const dir = path.join(path.dirname(this.dir), 'debian');
    runAs(['mkdir', '-p', dir]);
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) {
      const r = runAs(
        ['apt-get', '-q', ...this.opts, 'download', `${name}:${stanza.get('architecture')}=${stanza.get('version')}`],
        { cwd: dir, timeoutMs: 600_000, allowFail: ext === '.udeb' },
      );
      if (r.status !== 0) return { file, binNmu, inIndexOnly: true };
    }
    return { file: full, binNmu, inIndexOnly: false };
  }
}

/** The Source field of a binary stanza: `name (version)`, or just `name`, or absent. */
function sourceOf(s: Map<string, string>): [string, string] {
  const m = /^(\S+)(?:\s+\((\S+)\))?$/.exec(s.get('source') ?? '');
  if (!m) return [s.get('package')!, s.get('version')!];
  return [m[1]!, m[2] ?? s.get('version')!];
}

/**
 * The binary packages a .dsc's Package-List says a buildd of `arch` makes with no build
 * profile active (arch=any, linux-any, amd64, all...; profile=!x built, profile=x not);
 * with `archAll` false, only the architecture-specific ones (what a cross build makes).
 */
export function expectedBinaries(dsc: Map<string, string>, arch = 'amd64', archAll = true): string[] {
  const matching = ['any', 'linux-any', arch, `any-${arch}`, `linux-${arch}`, ...(archAll ? ['all'] : [])];
  const out: string[] = [];
  for (const line of (dsc.get('package-list') ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const [name, , , , ...kv] = line.split(/\s+/);
    const attrs = new Map(kv.map((x) => x.split('=') as [string, string]));
    const arches = (attrs.get('arch') ?? 'any').split(',');
    if (!arches.some((a) => matching.includes(a))) continue;
    const profile = attrs.get('profile');
    // Alternatives separated by ',' hold if any holds; terms joined by '+' must all hold.
    if (profile && !profile.split(',').some((alt) => alt.split('+').every((t) => t.startsWith('!')))) continue;
    out.push(name!);
  }
  return out.sort();
}

/** `path` or `path -> target` for every entry of a .deb's data, as `dpkg-deb -c` lists it. */
export function debContents(
  deb: string,
  o: { directories: boolean; targets: boolean } = { directories: true, targets: true },
): string[] {
  const r = runAs(['dpkg-deb', '-c', deb], { timeoutMs: 120_000 });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      // perms owner/group size date time path [-> target]
      if (!o.directories && line.startsWith('d')) return [];
      let entry = line
        .replace(/^\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+/, '')
        .replace(/^\.\//, '/')
        .replace(/\/$/, '');
      if (!o.targets) entry = entry.replace(/ -> .*$/, '');
      return entry && entry !== '/' ? [entry] : [];
    })
    .sort();
}

function isDebugPackage(deb: string): boolean {
  return runAs(['dpkg-deb', '-f', deb, 'Auto-Built-Package']).stdout.trim() === 'debug-symbols';
}

/** Differences between two sorted file lists: `+x` only in ours, `-x` only in Debian's. */
export function diffLists(ours: string[], theirs: string[]): string[] {
  const a = new Set(ours);
  const b = new Set(theirs);
  return [...ours.filter((x) => !b.has(x)).map((x) => `+${x}`), ...theirs.filter((x) => !a.has(x)).map((x) => `-${x}`)];
}

/**
 * What the tree's top level says about how the package builds, for the table: an explicit
 * dh addon first, then the files in the order debhelper's auto-detection tries them.
 */
function buildSystem(gitdir: string, control: string): string {
  const top = new Set(runAs(['git', '--git-dir', gitdir, 'ls-tree', '--name-only', 'master']).stdout.split('\n'));
  const bd = control.toLowerCase();
  if (/\bdh-(sequence-)?golang\b/.test(bd)) return 'go';
  if (/\bdh-(sequence-)?lua\b/.test(bd)) return 'lua';
  if (top.has('configure.ac') || top.has('configure.in') || top.has('configure')) return 'autotools';
  if (top.has('Build.PL') || /libmodule-build-perl/.test(bd)) return 'perl (Module::Build)';
  if (top.has('Makefile.PL')) return 'perl (MakeMaker)';
  if (top.has('Makefile') || top.has('GNUmakefile') || top.has('makefile')) return 'make';
  if (top.has('CMakeLists.txt')) return 'cmake';
  if (top.has('meson.build')) return 'meson';
  return 'debian/rules';
}

export interface CorpusOptions {
  entries: CorpusEntry[];
  /** Per-pocket DEB_BUILD_OPTIONS for the corpus pocket (e.g. nocheck). */
  debBuildOptions?: string;
  slots?: number;
  /** Progress lines. */
  progress?: (line: string) => void;
  /** Keep the instance's directory (for looking at logs afterwards). */
  keep?: boolean;
  /** The pocket also publishes this architecture, cross-built, compared with Debian's build of it. */
  cross?: string;
}

/**
 * Import, submit and build every entry in one fresh instance, then compare each with
 * Debian. Every package gets a result, whatever happens to it.
 */
export async function runCorpus(o: CorpusOptions): Promise<{ results: CorpusResult[]; root: string }> {
  const say = o.progress ?? (() => {});
  const archive = new DebianArchive();
  const crossArchive = o.cross ? new DebianArchive(o.cross) : undefined;
  say('corpus: updating the private apt lists (deb-src, debs, udebs)');
  await archive.update();
  await crossArchive?.update();
  const extra = ['limits:', '  build_timeout_seconds: 3600', '  cpu_seconds: 3600'].join('\n');
  const b = new TestBuilder('corpus', {
    pockets: {
      corpus: { deb_build_options: o.debBuildOptions, ...(o.cross ? { architectures: ['amd64', o.cross] } : {}) },
    },
    slots: o.slots ?? 1,
    extraYaml: extra,
  });
  const results = new Map<string, CorpusResult>();
  const submitted = new Map<string, { id: string; dsc: Map<string, string>; dscFile: string }>();
  const work = tempDirForTestUser('corpus-import');
  // Interrupted (Ctrl-C), the run still stops its daemon and removes its instance.
  const interrupted = (signal: NodeJS.Signals) => {
    say(`corpus: ${signal}: stopping the daemon and removing the instance`);
    void b.cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await b.startDaemon();
    for (const e of o.entries) {
      const base: CorpusResult = {
        package: e.name,
        status: 'not-submitted',
        expected: [],
        binaries: [],
        debugPackages: [],
        matched: 0,
        match: false,
      };
      try {
        const dscFile = await archive.source(e.name);
        const dsc = parseDeb822(unsigned(fs.readFileSync(dscFile, 'utf8')), { comments: false, file: dscFile })[0]!;
        Object.assign(base, {
          version: dsc.get('version'),
          format: dsc.get('format'),
          expected: expectedBinaries(dsc),
        });
        const clone = path.join(work, e.name);
        const imported = runAs(['gbp', 'import-dsc', '--pristine-tar', dscFile, clone], {
          cwd: work,
          timeoutMs: 600_000,
          allowFail: true,
        });
        if (imported.status !== 0) {
          // pristine-tar cannot record every tarball (an xz made by another xz version, say);
          // a packager then imports without it, and the upstream tarball comes from the
          // upstream/<version> tag instead. Any other import failure is final.
          if (!/pristine-(tar|xz|gz|bz2)/.test(imported.stderr))
            throw new Error(`gbp import-dsc failed: ${imported.stderr.trim().split('\n').pop()}`);
          base.importNote = `pristine-tar could not record the tarball (${imported.stderr
            .trim()
            .split('\n')
            .find((l) => /failed/.test(l))
            ?.trim()}); imported without it`;
          say(`corpus: ${e.name}: ${base.importNote}`);
          runAs(['rm', '-rf', clone]);
          runAs(['gbp', 'import-dsc', '--no-pristine-tar', dscFile, clone], { cwd: work, timeoutMs: 600_000 });
        }
        const gitdir = b.cli(['repo', 'create', e.name]).stdout.trim();
        runAs(['git', '-C', clone, 'push', '--quiet', gitdir, '--all'], { timeoutMs: 600_000 });
        runAs(['git', '-C', clone, 'push', '--quiet', gitdir, '--tags'], { timeoutMs: 600_000 });
        base.buildSystem = buildSystem(
          gitdir,
          `${dsc.get('build-depends') ?? ''} ${dsc.get('build-depends-indep') ?? ''}`,
        );
        const id = b.submit('corpus', e.name, 'master');
        submitted.set(e.name, { id, dsc, dscFile });
        base.status = 'queued';
        base.build = id;
        say(`corpus: ${e.name} ${base.version} imported and submitted as ${id}`);
      } catch (err) {
        base.status = 'import-failed';
        base.reason = firstLine((err as Error).message);
        say(`corpus: ${e.name}: import failed: ${base.reason}`);
      }
      results.set(e.name, base);
    }
    for (const e of o.entries) {
      const s = submitted.get(e.name);
      if (!s) continue;
      const r = results.get(e.name)!;
      const res = await b.waitFor(s.id, 4 * 3600_000);
      r.status = res.status;
      r.code = res.code;
      r.reason = res.reason;
      r.seconds = Math.round((Date.parse(res.finished) - Date.parse(res.started)) / 100) / 10;
      if (res.status === 'succeeded') {
        try {
          await compare(
            r,
            res.outputs.map((x) => x.file),
            path.join(b.stateDir, 'builds', s.id, 'outputs'),
            archive,
            s.dsc,
            crossArchive,
          );
        } catch (err) {
          r.mismatch = `the comparison failed: ${firstLine((err as Error).message)}`;
        }
      }
      say(
        `corpus: ${e.name}: ${r.status}${r.code ? ` ${r.code}` : ''} in ${r.seconds} s${r.status === 'succeeded' ? `, ${r.match ? 'matches Debian' : `differs: ${r.mismatch}`}` : `: ${firstLine(r.reason ?? '')}`}`,
      );
    }
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    if (o.keep) process.env.POCKETBUILD_KEEP_TEST_DIRS = '1';
    await b.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { results: o.entries.map((e) => results.get(e.name)!), root: b.root };
}

/** Compare what we published for one source with Debian's binaries of the same version. */
async function compare(
  r: CorpusResult,
  outputs: string[],
  outDir: string,
  archive: DebianArchive,
  dsc: Map<string, string>,
  cross?: DebianArchive,
): Promise<void> {
  const debs = outputs.filter((x) => /\.u?deb$/.test(x));
  const crossBuilt = (f: string) => cross !== undefined && f.endsWith(`_${cross.arch}${path.extname(f)}`);
  const full = (f: string) => path.join(outDir, f);
  const host = await compareWith(archive, r.expected, debs.filter((f) => !crossBuilt(f)).map(full), dsc);
  Object.assign(r, { binaries: host.binaries, debugPackages: host.debugPackages, matched: host.matched });
  const problems = [...host.problems];
  if (cross) {
    const expected = expectedBinaries(dsc, cross.arch, false);
    const c = await compareWith(cross, expected, debs.filter(crossBuilt).map(full), dsc);
    r.cross = { arch: cross.arch, expected, binaries: c.binaries, matched: c.matched };
    problems.push(...c.problems.map((p) => `${cross.arch}: ${p}`));
  }
  r.match =
    problems.length === 0 &&
    r.matched === r.expected.length &&
    (!r.cross || r.cross.matched === r.cross.expected.length);
  if (!r.match) r.mismatch = problems.join('; ');
}

/**
 * Our .debs of one architecture (and arch: all) against Debian's build of `archive.arch`:
 * the same packages, each with the same paths and symlink targets.
 */
async function compareWith(
  archive: DebianArchive,
  expected: string[],
  debs: string[],
  dsc: Map<string, string>,
): Promise<{ binaries: BinaryComparison[]; debugPackages: string[]; matched: number; problems: string[] }> {
  const source = dsc.get('source')!;
  const version = dsc.get('version')!;
  const out = {
    binaries: [] as BinaryComparison[],
    debugPackages: [] as string[],
    matched: 0,
    problems: [] as string[],
  };
  const ours = new Map<string, string>();
  for (const f of debs) {
    if (isDebugPackage(f)) out.debugPackages.push(path.basename(f).split('_')[0]!);
    else ours.set(path.basename(f).split('_')[0]!, f);
  }
  const names = [...new Set([...expected, ...ours.keys()])].sort();
  const problems = out.problems;
  for (const name of names) {
    const c: BinaryComparison = { name, differences: [] };
    out.binaries.push(c);
    const mine = ours.get(name);
    const theirs = expected.includes(name) ? await archive.binary(name, source, version) : null;
    if (mine) c.ours = path.basename(mine);
    if (theirs) c.debian = theirs.inIndexOnly ? `${theirs.file} (Contents-udeb)` : path.basename(theirs.file);
    if (!mine) {
      problems.push(`${name} not built`);
      continue;
    }
    if (!expected.includes(name)) {
      problems.push(`${name} built but not in Debian's Package-List`);
      continue;
    }
    if (!theirs) {
      problems.push(`${name}: Debian has no ${archive.arch}/all binary of ${source} ${version}`);
      continue;
    }
    const binNmuChangelog = (p: string) =>
      theirs.binNmu && p.startsWith('/usr/share/doc/') && p.endsWith(`/changelog.Debian.${archive.arch}.gz`);
    const debians = theirs.inIndexOnly ? ((await archive.udebContents(name)) ?? []) : debContents(theirs.file);
    const mineList = theirs.inIndexOnly ? debContents(mine, { directories: false, targets: false }) : debContents(mine);
    c.differences = diffLists(
      mineList,
      debians.filter((p) => !binNmuChangelog(p)),
    );
    if (c.differences.length)
      problems.push(
        `${name}: ${c.differences.length} paths differ (${c.differences.slice(0, 3).join(' ')}${c.differences.length > 3 ? ' …' : ''})`,
      );
    else out.matched++;
  }
  return out;
}

/** The text of an OpenPGP clear-signed message (a .dsc from the archive), unverified: apt checked it. */
function unsigned(text: string): string {
  const m = /^-----BEGIN PGP SIGNED MESSAGE-----\n(?:[^\n]+\n)*\n([\s\S]*?)\n-----BEGIN PGP SIGNATURE-----/.exec(text);
  return m ? m[1]!.replace(/^- /gm, '') : text;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean) ?? ''
  );
}

/** The table the corpus prints: one row a package, then `N of M real packages match Debian`. */
export function corpusTable(results: CorpusResult[]): string {
  const rows = results.map((r) => [
    r.package,
    r.buildSystem ?? '?',
    r.status,
    r.seconds === undefined ? '-' : r.seconds.toFixed(0),
    `${r.matched}/${r.expected.length}${r.cross ? ` +${r.cross.arch} ${r.cross.matched}/${r.cross.expected.length}` : ''}`,
    String([...r.binaries, ...(r.cross?.binaries ?? [])].reduce((n, c) => n + c.differences.length, 0)),
    r.code ?? (r.status === 'succeeded' && !r.match ? 'Mismatch' : ''),
    firstLine(r.status === 'succeeded' ? (r.mismatch ?? '') : (r.reason ?? '')).slice(0, 100),
  ]);
  const head = ['package', 'build system', 'status', 'secs', 'binaries', 'diffs', 'code', 'reason'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const ok = results.filter((r) => r.match).length;
  return [fmt(head), ...rows.map(fmt), `${ok} of ${results.length} real packages match Debian`].join('\n');
}
