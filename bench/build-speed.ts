/**
 * How long a build takes, next to its peers measured in the same run, on the same machine,
 * from the same mirror, interleaved round by round:
 *
 *   pocketbuild warm   submit to published; base image, package lists, .debs and the
 *                      dependency layer cached (a warm-up build makes them)
 *   bare               dpkg-buildpackage -b on the host, build-dependencies installed: the floor
 *   sbuild warm        sbuild --chroot-mode=unshare (what Debian's buildds run), its chroot
 *                      tarball made
 *   pocketbuild cold   an empty cache: daemon start, base image, lists, .debs, layer, build
 *   sbuild cold        mmdebstrap of its chroot tarball, then sbuild
 *
 * for Debian's hello and for libzip (a library with a test suite and some 70
 * build-dependencies). Prints medians, ranges and the ratios the targets are stated in.
 *
 *   npm run bench -- [--runs N] [--only hello,libzip] [--no-cold]
 *
 * As root it installs what it lacks (sbuild; each package's build-dependencies on the host
 * for the bare floor) and runs builds as the unprivileged test user, like the tests; as
 * another user it prints the apt-get line and leaves that peer out.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestBuilder } from '../test/helpers/builder.js';
import { DebianArchive } from '../test/helpers/corpus.js';
import setup from '../test/helpers/global-setup.js';
import { importDsc } from '../test/helpers/hello.js';
import { isRoot, runAs, sharedCacheDir, tempDirForTestUser } from '../test/helpers/env.js';

const USAGE = `usage: npm run bench -- [--runs N] [--only hello,libzip] [--no-cold]
  --runs N     warm rounds per package (default 3); cold runs once
  --only A,B   just these packages (hello, libzip)
  --no-cold    leave out the cold runs (each makes a base image and an sbuild tarball)`;

const MIRROR = 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
/** Every peer builds with the same parallelism as pocketbuild's one slot. */
const PARALLEL = `parallel=${os.availableParallelism()}`;

function usageError(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const o = { runs: 3, only: ['hello', 'libzip'], cold: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--no-cold') o.cold = false;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else usageError(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) usageError('--runs needs a positive integer');
  for (const p of o.only) if (!['hello', 'libzip'].includes(p)) usageError(`--only: no package ${p}`);
  return o;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Run as root, or say what a root would run; true when it ran (or was not needed). */
function asRoot(what: string, argv: string[]): boolean {
  if (!isRoot()) {
    say(`${what}: as root, run: ${argv.join(' ')}`);
    return false;
  }
  say(`${what}: ${argv.join(' ')}`);
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], timeout: 30 * 60_000 });
  return r.status === 0;
}

function timed(argv: string[], opts: { cwd: string; env?: Record<string, string>; log: string }): number {
  const t0 = Date.now();
  const r = runAs(argv, { cwd: opts.cwd, env: opts.env ?? {}, timeoutMs: 3 * 3600_000, allowFail: true });
  fs.writeFileSync(opts.log, `${r.stdout}\n${r.stderr}`);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited with ${r.status}; see ${opts.log}`);
  return Date.now() - t0;
}

/** A source package, unpacked afresh for each bare build. */
interface Source {
  name: string;
  dsc: string;
  version: string;
}

/** The bare floor: dpkg-buildpackage -b in a fresh unpack, as the test user, deps on the host. */
function bareBuild(src: Source, scratch: string): number | null {
  const dir = path.join(scratch, `bare-${src.name}`);
  runAs(['rm', '-rf', dir]);
  runAs(['dpkg-source', '-x', src.dsc, dir], { cwd: scratch });
  if (spawnSync('dpkg-checkbuilddeps', [], { cwd: dir }).status !== 0) return null;
  return timed(['dpkg-buildpackage', '-b', '-uc', '-us'], {
    cwd: dir,
    env: { DEB_BUILD_OPTIONS: PARALLEL },
    log: path.join(scratch, `bare-${src.name}.log`),
  });
}

/** sbuild in unshare mode, with HOME holding its chroot tarball where sbuild looks for it. */
class Sbuild {
  readonly home: string;
  constructor(private readonly scratch: string) {
    this.home = path.join(scratch, 'sbuild-home');
    runAs(['mkdir', '-p', path.join(this.home, '.cache', 'sbuild')]);
  }
  private get tarball() {
    return path.join(this.home, '.cache', 'sbuild', `${SUITE}-${os.arch() === 'x64' ? 'amd64' : os.arch()}.tar`);
  }
  /** What Debian's wiki gives for unshare mode: mmdebstrap --variant=buildd. */
  makeTarball(): number {
    runAs(['rm', '-f', this.tarball]);
    return timed(['mmdebstrap', '--mode=unshare', '--variant=buildd', SUITE, this.tarball, MIRROR], {
      cwd: this.scratch,
      log: path.join(this.scratch, 'sbuild-tarball.log'),
    });
  }
  hasTarball(): boolean {
    return fs.existsSync(this.tarball);
  }
  build(src: Source): number {
    const out = path.join(this.scratch, `sbuild-${src.name}`);
    runAs(['rm', '-rf', out]);
    runAs(['mkdir', '-p', out]);
    return timed(
      [
        'sbuild',
        '--chroot-mode=unshare',
        `--dist=${SUITE}`,
        '--arch-all',
        '--no-run-lintian',
        '--no-run-piuparts',
        '--no-run-autopkgtest',
        '--no-apt-update',
        '--no-apt-upgrade',
        '--no-apt-distupgrade',
        `--extra-repository=deb ${MIRROR} ${SUITE} main`,
        src.dsc,
      ],
      {
        cwd: out,
        env: { HOME: this.home, DEB_BUILD_OPTIONS: PARALLEL, LC_ALL: 'C.UTF-8' },
        log: path.join(this.scratch, `sbuild-${src.name}.log`),
      },
    );
  }
}

/** pocketbuild through the real daemon: submit to published, and the stages of the build. */
async function pocketbuildRun(b: TestBuilder, src: Source): Promise<{ ms: number; stages: Record<string, number> }> {
  const t0 = Date.now();
  const id = b.submit('bench', src.name, 'master');
  const r = await b.waitFor(id, 3 * 3600_000);
  if (r.status !== 'succeeded') throw new Error(`pocketbuild ${src.name}: ${r.status}: ${r.reason}`);
  return { ms: Date.parse(r.finished) - t0, stages: Object.fromEntries(r.stages.map((s) => [s.name, s.ms])) };
}

function builder(name: string): TestBuilder {
  return new TestBuilder(name, {
    pockets: { bench: { allow_backtracking: true } },
    extraYaml: 'limits:\n  build_timeout_seconds: 7200\n  cpu_seconds: 7200',
  });
}

/** An empty cache for a cold pocketbuild, in the test user's hands; removed after. */
async function coldPocketbuild(src: Source): Promise<number> {
  const cache = tempDirForTestUser('bench-cold-cache');
  const previous = process.env.POCKETBUILD_TEST_CACHE;
  process.env.POCKETBUILD_TEST_CACHE = cache;
  const b = builder('bench-cold');
  try {
    importDsc(b.reposDir, src.name, src.dsc);
    const t0 = Date.now();
    await b.startDaemon();
    const id = b.submit('bench', src.name, 'master');
    const r = await b.waitFor(id, 3 * 3600_000);
    if (r.status !== 'succeeded') throw new Error(`pocketbuild cold ${src.name}: ${r.status}: ${r.reason}`);
    return Date.parse(r.finished) - t0;
  } finally {
    await b.cleanup();
    if (previous === undefined) delete process.env.POCKETBUILD_TEST_CACHE;
    else process.env.POCKETBUILD_TEST_CACHE = previous;
    // The base image and layers hold subordinate-uid files: removed from inside a namespace.
    runAs(['unshare', '--map-auto', '--map-root-user', 'rm', '-rf', cache], { allowFail: true, timeoutMs: 600_000 });
  }
}

async function sources(names: string[]): Promise<Source[]> {
  const archive = new DebianArchive();
  await archive.update();
  const out: Source[] = [];
  for (const name of names) {
    const dsc =
      name === 'hello' ? path.join(sharedCacheDir(), 'sources', 'hello_2.10-3.dsc') : await archive.source(name);
    const version = /^Version: (\S+)$/m.exec(fs.readFileSync(dsc, 'utf8'))?.[1] ?? '?';
    out.push({ name, dsc, version });
  }
  return out;
}

interface Row {
  pkg: string;
  peer: string;
  ms: number[];
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  setup();
  const scratch = tempDirForTestUser('bench-speed');
  const rows: Row[] = [];
  const add = (pkg: string, peer: string, ms: number) => {
    let row = rows.find((r) => r.pkg === pkg && r.peer === peer);
    if (!row) rows.push((row = { pkg, peer, ms: [] }));
    row.ms.push(ms);
  };
  const stageRuns: Record<string, Record<string, number>[]> = {};
  const srcs = await sources(o.only);

  if (spawnSync('sbuild', ['--version']).status !== 0)
    asRoot('sbuild is missing', ['apt-get', 'install', '-y', '--no-install-recommends', 'sbuild']);
  const haveSbuild = spawnSync('sbuild', ['--version']).status === 0;
  for (const src of srcs) {
    const dir = path.join(scratch, `deps-${src.name}`);
    runAs(['dpkg-source', '-x', src.dsc, dir], { cwd: scratch });
    if (spawnSync('dpkg-checkbuilddeps', [], { cwd: dir }).status !== 0)
      asRoot(`the bare floor needs ${src.name}'s build-dependencies on the host`, ['apt-get', 'build-dep', '-y', dir]);
  }

  const sbuild = haveSbuild ? new Sbuild(scratch) : null;
  const b = builder('bench');
  try {
    await b.startDaemon();
    if (sbuild && !sbuild.hasTarball()) say(`sbuild's chroot tarball: ${sec(sbuild.makeTarball())}`);
    for (const src of srcs) {
      importDsc(b.reposDir, src.name, src.dsc);
      const warmup = await pocketbuildRun(b, src);
      say(`${src.name} ${src.version}: pocketbuild warm-up ${sec(warmup.ms)} (makes the layer)`);
      stageRuns[src.name] = [];
      for (let i = 1; i <= o.runs; i++) {
        const pb = await pocketbuildRun(b, src);
        add(src.name, 'pocketbuild warm', pb.ms);
        stageRuns[src.name]!.push(pb.stages);
        const bare = bareBuild(src, scratch);
        if (bare !== null) add(src.name, 'bare dpkg-buildpackage -b', bare);
        const sb = sbuild?.build(src);
        if (sb !== undefined) add(src.name, 'sbuild warm', sb);
        say(
          `${src.name} round ${i}: pocketbuild ${sec(pb.ms)}, bare ${bare === null ? '-' : sec(bare)}, sbuild ${sb === undefined ? '-' : sec(sb)}`,
        );
      }
    }
  } finally {
    await b.cleanup();
  }
  if (o.cold) {
    for (const src of srcs) {
      const pb = await coldPocketbuild(src);
      add(src.name, 'pocketbuild cold', pb);
      if (sbuild) {
        const sb = sbuild.makeTarball() + sbuild.build(src);
        add(src.name, 'sbuild cold', sb);
        say(`${src.name} cold: pocketbuild ${sec(pb)}, sbuild (tarball + build) ${sec(sb)}`);
      }
    }
  }
  report(rows, stageRuns, srcs);
  runAs(['rm', '-rf', scratch], { allowFail: true });
}

function report(rows: Row[], stageRuns: Record<string, Record<string, number>[]>, srcs: Source[]): void {
  console.log(`build speed, ${os.availableParallelism()} CPUs, ${SUITE} from ${MIRROR}, medians (min - max, runs):`);
  for (const src of srcs) {
    console.log(`\n${src.name} ${src.version}`);
    for (const r of rows.filter((x) => x.pkg === src.name))
      console.log(
        `  ${r.peer.padEnd(26)} ${sec(median(r.ms)).padStart(8)}   (${sec(Math.min(...r.ms))} - ${sec(Math.max(...r.ms))}, ${r.ms.length})`,
      );
    const m = (peer: string) => {
      const r = rows.find((x) => x.pkg === src.name && x.peer === peer);
      return r ? median(r.ms) : undefined;
    };
    const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}x` : 'not measured');
    console.log(
      `  warm pocketbuild / bare      ${ratio(m('pocketbuild warm'), m('bare dpkg-buildpackage -b'))}   (target <= 1.05x)`,
    );
    console.log(`  warm pocketbuild / sbuild    ${ratio(m('pocketbuild warm'), m('sbuild warm'))}   (target <= 0.5x)`);
    console.log(`  cold pocketbuild / sbuild    ${ratio(m('pocketbuild cold'), m('sbuild cold'))}   (target <= 0.6x)`);
    const runs = stageRuns[src.name] ?? [];
    if (runs.length) {
      const names = Object.keys(runs[0]!);
      console.log(
        `  pocketbuild warm stages: ${names.map((n) => `${n} ${sec(median(runs.map((r) => r[n] ?? 0)))}`).join(', ')}`,
      );
    }
  }
}

await main();
