/**
 * Debian's hello, from git to published, through the real daemon: wall time per stage
 * (export, base, deps, build, publish...) over several runs, and, when the host has hello's
 * build-dependencies installed, a bare `dpkg-buildpackage -b` measured in the same run as the
 * floor, printed as a ratio.
 *
 *   npm run bench -- [--runs N]
 *
 * As root it runs the daemon as the unprivileged test user, like the tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestBuilder } from '../test/helpers/builder.js';
import { importHello } from '../test/helpers/hello.js';
import setup from '../test/helpers/global-setup.js';
import { sharedCacheDir } from '../test/helpers/env.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  setup();
  const b = new TestBuilder('bench', { pockets: { bench: { allow_backtracking: true } } });
  try {
    await b.startDaemon();
    importHello(b.reposDir);
    const runs: Array<{ total: number; stages: Record<string, number> }> = [];
    for (let i = 0; i <= RUNS; i++) {
      const t0 = Date.now();
      const id = b.submit('bench', 'hello', 'master');
      const r = await b.waitFor(id);
      if (r.status !== 'succeeded') throw new Error(`run ${i} ${r.status}: ${r.reason}\n${b.buildLog(id)}`);
      const stages = Object.fromEntries(r.stages.map((s) => [s.name, s.ms]));
      const total = Date.now() - t0;
      process.stderr.write(`run ${i === 0 ? 'warm-up' : i}: ${sec(total)} ${JSON.stringify(stages)}\n`);
      if (i > 0) runs.push({ total, stages }); // run 0 warms the base image and the .deb cache
    }
    const names = Object.keys(runs[0]!.stages);
    console.log(`hello 2.10-3, submit to published, ${RUNS} warm runs (median; min-max):`);
    for (const n of names) {
      const xs = runs.map((r) => r.stages[n]!);
      console.log(
        `  ${n.padEnd(9)} ${sec(median(xs)).padStart(9)}   (${sec(Math.min(...xs))} - ${sec(Math.max(...xs))})`,
      );
    }
    const totals = runs.map((r) => r.total);
    console.log(
      `  ${'total'.padEnd(9)} ${sec(median(totals)).padStart(9)}   (submit until the request left the queue)`,
    );
    floor(median(totals));
  } finally {
    await b.cleanup();
  }
}

/** The floor: bare dpkg-buildpackage on the host with the deps installed. */
function floor(pocketbuildMs: number): void {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-floor-'));
  try {
    const src = path.join(sharedCacheDir(), 'sources', 'hello_2.10-3.dsc');
    spawnSync('dpkg-source', ['-x', src, path.join(work, 'hello')], { stdio: 'ignore' });
    const check = spawnSync('dpkg-checkbuilddeps', [], { cwd: path.join(work, 'hello'), encoding: 'utf8' });
    if (check.status !== 0) {
      console.log(
        `  floor     skipped: the host lacks hello's build-dependencies (${check.stderr.trim().split('\n').pop()}); as root: apt-get build-dep hello, then run again`,
      );
      return;
    }
    const xs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      fs.rmSync(path.join(work, 'hello'), { recursive: true, force: true });
      spawnSync('dpkg-source', ['-x', src, path.join(work, 'hello')], { stdio: 'ignore' });
      const t0 = Date.now();
      const r = spawnSync('dpkg-buildpackage', ['-b', '-uc', '-us'], {
        cwd: path.join(work, 'hello'),
        stdio: 'ignore',
      });
      if (r.status !== 0) throw new Error('bare dpkg-buildpackage failed');
      xs.push(Date.now() - t0);
    }
    console.log(
      `  floor     ${sec(median(xs)).padStart(9)}   bare dpkg-buildpackage -b, deps installed; pocketbuild/floor = ${(pocketbuildMs / median(xs)).toFixed(2)}x`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
