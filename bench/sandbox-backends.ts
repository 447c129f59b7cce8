/**
 * The same small package (a native package that build-depends on jq) built through the real
 * daemon in a `sandbox: userns` pocket and a `sandbox: vm` pocket, alternating, in one run:
 * submit-to-published time and the build stage, as medians, and the VM's cost as a ratio.
 * On a host without usable KVM the VM runs under software emulation (TCG).
 *
 *   npm run bench:sandbox -- [--runs N]
 */
import { TestBuilder } from '../test/helpers/builder.js';
import { PackageRepo } from '../test/helpers/packages.js';
import setup from '../test/helpers/global-setup.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  setup();
  const b = new TestBuilder('bench-sandbox', {
    pockets: { userns: { allow_backtracking: true }, vm: { sandbox: 'vm', allow_backtracking: true } },
  });
  const pkg = new PackageRepo(b.reposDir, 'pb-bench');
  try {
    await b.startDaemon();
    const commit = pkg.commitVersion({ version: '1.0', buildDepends: 'jq', buildCommands: ['jq --version'] });
    const times: Record<string, Array<{ total: number; build: number }>> = { userns: [], vm: [] };
    let lastVm = '';
    // Run 0 of each warms the caches (base image, .debs, the VM's kernel and root image).
    for (let i = 0; i <= RUNS; i++) {
      for (const pocket of ['userns', 'vm'] as const) {
        const t0 = Date.now();
        const id = b.submit(pocket, 'pb-bench', commit);
        const r = await b.waitFor(id, 60 * 60_000);
        if (r.status !== 'succeeded') throw new Error(`${pocket} run ${i} ${r.status}: ${r.reason}\n${b.buildLog(id)}`);
        const total = Date.now() - t0;
        if (pocket === 'vm') lastVm = id;
        const build = r.stages.find((s) => s.name === 'build')?.ms ?? NaN;
        process.stderr.write(`${pocket} run ${i === 0 ? 'warm-up' : i}: ${sec(total)} (build ${sec(build)})\n`);
        if (i > 0) times[pocket]!.push({ total, build });
      }
    }
    const accel = /with accel (\w+)/.exec(b.buildLog(lastVm))?.[1] ?? '?';
    const m = (p: string, k: 'total' | 'build') => median(times[p]!.map((t) => t[k]));
    console.log(`pb-bench (Build-Depends: jq), ${RUNS} warm runs each, alternating (medians):`);
    console.log(
      `  userns  total ${sec(m('userns', 'total')).padStart(9)}  build stage ${sec(m('userns', 'build')).padStart(9)}`,
    );
    console.log(
      `  vm      total ${sec(m('vm', 'total')).padStart(9)}  build stage ${sec(m('vm', 'build')).padStart(9)}  (accel ${accel})`,
    );
    console.log(
      `  vm / userns: total ${(m('vm', 'total') / m('userns', 'total')).toFixed(2)}x, build stage ${(m('vm', 'build') / m('userns', 'build')).toFixed(2)}x`,
    );
  } finally {
    pkg.cleanup();
    await b.cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
