/**
 * The parts of the pipeline that do not depend on the package, each next to its peer:
 *
 *   dispatch   a request written to the queue until its build starts (daemon idle), against
 *              the 200 ms target
 *   export     a commit's 10,000-file tree into a build's work directory, as the export step
 *              does it, against `git archive | tar -x` of the same commit
 *   publish    the publish step of real builds (reprepro include, signed indices, provenance)
 *              into a suite that already holds 1,000 packages, against a bare
 *              `reprepro include` of the same .changes into a suite of the same size
 *
 *   npm run bench:parts -- [--runs N]
 *
 * As root, the daemon and reprepro run as the unprivileged test user, like the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { exportLikeGitArchive } from '../src/steps/git-archive-tree.js';
import { TestBuilder } from '../test/helpers/builder.js';
import setup from '../test/helpers/global-setup.js';
import { runAs, tempDirForTestUser } from '../test/helpers/env.js';
import { PackageRepo } from '../test/helpers/packages.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;
const FILES = 10_000;
const PACKAGES = 1_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const line = (name: string, xs: number[], peer?: { name: string; xs: number[] }, target?: string) => {
  const m = median(xs);
  let out = `  ${name.padEnd(34)} ${ms(m).padStart(10)}   (${ms(Math.min(...xs))} - ${ms(Math.max(...xs))}, ${xs.length} runs)`;
  if (peer)
    out += `\n  ${peer.name.padEnd(34)} ${ms(median(peer.xs)).padStart(10)}   ratio ${(m / median(peer.xs)).toFixed(2)}x`;
  if (target) out += `\n  target: ${target}`;
  console.log(out);
};

/** A repository with one commit of FILES small files in nested directories, as the test user. */
function bigTree(dir: string): string {
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(tree, { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const sub = path.join(tree, `d${i % 100}`, `e${Math.floor(i / 100) % 10}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${i}.c`), `/* file ${i} */\nint f${i}(void) { return ${i}; }\n`);
  }
  const git = (args: string[]) => spawnSync('git', ['-C', tree, ...args], { encoding: 'utf8' });
  git(['init', '--quiet', '--initial-branch=main']);
  git(['add', '.']);
  git(['-c', 'user.name=bench', '-c', 'user.email=bench@invalid', 'commit', '--quiet', '-m', 'tree']);
  return path.join(tree, '.git');
}

async function exportBench(dir: string): Promise<void> {
  const gitdir = bigTree(dir);
  const ours: number[] = [];
  const peer: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const work = fs.mkdtempSync(path.join(dir, 'work-'));
    let t0 = performance.now();
    const r = await exportLikeGitArchive(gitdir, 'HEAD', path.join(work, 'src'), {
      workDir: work,
      log: new PassThrough().resume(),
      timeoutMs: 600_000,
    });
    ours.push(performance.now() - t0);
    if (r.files < FILES) throw new Error(`export wrote ${r.files} files, not ${FILES}`);
    const dest = path.join(work, 'peer');
    fs.mkdirSync(dest);
    t0 = performance.now();
    const p = spawnSync('sh', ['-c', 'git --git-dir "$1" archive HEAD | tar -x -C "$2"', 'sh', gitdir, dest]);
    peer.push(performance.now() - t0);
    if (p.status !== 0) throw new Error(`git archive | tar -x: ${p.stderr}`);
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(`export of a ${FILES}-file tree:`);
  line('pocketbuild export step', ours, { name: 'git archive | tar -x', xs: peer }, '<= 2x git archive | tar -x');
}

/** PACKAGES tiny .debs, made with dpkg-deb as the test user. */
function fillerDebs(dir: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < PACKAGES; i++) {
    const name = `pb-filler-${i}`;
    const root = path.join(dir, name);
    fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
    fs.mkdirSync(path.join(root, 'usr', 'share', name), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr', 'share', name, 'data'), `${name}\n`);
    fs.writeFileSync(
      path.join(root, 'DEBIAN', 'control'),
      `Package: ${name}\nVersion: 1.0\nSection: misc\nPriority: optional\nArchitecture: all\nMaintainer: bench <bench@invalid>\nDescription: filler ${i}\n`,
    );
    out.push(path.join(dir, `${name}_1.0_all.deb`));
  }
  // One dpkg-deb per package, in one shell for speed; names are ours.
  const r = spawnSync('sh', [
    '-c',
    'cd "$1" && for d in pb-filler-*/; do dpkg-deb -Zgzip -b "${d%/}" . >/dev/null || exit 1; done',
    'sh',
    dir,
  ]);
  if (r.status !== 0) throw new Error(`dpkg-deb: ${r.stderr}`);
  return out;
}

async function dispatchAndPublishBench(): Promise<void> {
  const b = new TestBuilder('bench-parts', { pockets: { dev: {}, peer: {} } });
  const scratch = tempDirForTestUser('bench-parts');
  try {
    await b.startDaemon();
    const repo = path.join(b.stateDir, 'apt');
    const env = { GNUPGHOME: path.join(b.stateDir, 'gnupg') };
    say(`making ${PACKAGES} packages and including them in suites dev and peer`);
    const debsDir = path.join(scratch, 'filler');
    fs.mkdirSync(debsDir);
    const debs = fillerDebs(debsDir);
    spawnSync('chmod', ['-R', 'a+rX', debsDir]);
    for (const suite of ['dev', 'peer'])
      runAs(['reprepro', '-b', repo, 'includedeb', suite, ...debs], { env, timeoutMs: 3600_000 });

    const dispatch: number[] = [];
    const publish: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `pb-parts-${i}`;
      const pkg = new PackageRepo(b.reposDir, name);
      const id = b.submit('dev', name, pkg.commitVersion({ version: '1.0' }));
      const r = await b.waitFor(id);
      if (r.status !== 'succeeded') throw new Error(`${name}: ${r.status}: ${r.reason}`);
      const req = JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', id, 'request.json'), 'utf8')) as {
        time: string;
      };
      dispatch.push(Date.parse(r.started) - Date.parse(req.time));
      publish.push(r.stages.find((s) => s.name === 'publish')!.ms);
      const changes = fs
        .readdirSync(path.join(b.stateDir, 'builds', id, 'outputs'))
        .find((f) => f.endsWith('.changes'))!;
      const t0 = performance.now();
      runAs(
        [
          'reprepro',
          '-b',
          repo,
          '--ignore=wrongdistribution',
          'include',
          'peer',
          path.join(b.stateDir, 'builds', id, 'outputs', changes),
        ],
        {
          env,
          timeoutMs: 600_000,
        },
      );
      bare.push(performance.now() - t0);
      pkg.cleanup();
    }
    console.log('dispatch, request written until its build starts (idle daemon):');
    line('pocketbuild', dispatch, undefined, '<= 200 ms');
    console.log(`publish into a suite holding ${PACKAGES} packages, per package:`);
    line('pocketbuild publish step', publish, { name: 'bare reprepro include', xs: bare }, '<= 100 ms');
  } finally {
    await b.cleanup();
    runAs(['rm', '-rf', scratch], { allowFail: true });
  }
}

async function main(): Promise<void> {
  setup();
  const dir = fs.mkdtempSync('/tmp/pocketbuild-bench-export-');
  try {
    await exportBench(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await dispatchAndPublishBench();
}

await main();
