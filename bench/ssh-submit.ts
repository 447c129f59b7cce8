/**
 * `ssh … submit` through a real OpenSSH sshd, side by side in one run with the floor
 * OpenSSH itself sets (a forced command that does nothing): median and p95 round trip of
 * the floor, of the fast forced command (bin/pocketbuild-ssh → the daemon's entry socket)
 * and of the Node forced command, their ratios, then 1,000 submissions from 50 concurrent
 * clients through the fast path and how many were queued. The daemon runs with its
 * rescan far away and no build slots free (a sleeping build holds the only slot), so every
 * accepted request stays in the queue to be counted.
 *
 *   npm run bench:ssh -- [--rounds N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { TestBuilder } from '../test/helpers/builder.js';
import { PackageRepo } from '../test/helpers/packages.js';
import { ClientKeys, OpenSshServer, forcedCommand } from '../test/helpers/ssh.js';
import setup from '../test/helpers/global-setup.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg('--rounds', 40);
const TOTAL = arg('--total', 1000);
const CLIENTS = arg('--clients', 50);

function ssh(argv: string[]): Promise<{ ms: number; code: number | null; out: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const p = spawn('ssh', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, out }));
  });
}

function stats(xs: number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p95: at(0.95) };
}

async function main(): Promise<void> {
  setup();
  const b = new TestBuilder('bench-ssh', { pockets: { dev: { acl: ['*'], allow_backtracking: true } } });
  const repo = new PackageRepo(b.reposDir, 'pb-bench');
  repo.commitVersion({ version: '1.0' });
  // Holds the daemon's only slot for the whole benchmark, so the submissions stay queued.
  const blocker = new PackageRepo(b.reposDir, 'pb-blocker');
  blocker.commitVersion({ version: '1.0', buildCommands: ['sleep 3600'] });
  const keys = new ClientKeys(path.join(b.root, 'keys'), ['alice', 'nodecmd', 'floor']);
  const socket = path.join(b.stateDir, 'entry.sock');
  const fast = new OpenSshServer(
    b.root,
    keys,
    b.configFile,
    ['alice'],
    { floor: '/bin/true', nodecmd: forcedCommand(b.configFile, 'alice') },
    socket,
  );
  await fast.start();
  await b.startDaemon();
  try {
    const blockId = b.submit('dev', 'pb-blocker', 'main');
    while (!b.buildLog(blockId).includes('building as uid')) await new Promise((r) => setTimeout(r, 200));
    // Interleave the three so machine noise hits them alike.
    const floor: number[] = [];
    const viaSocket: number[] = [];
    const viaNode: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      floor.push((await ssh(fast.argv('floor', 'anything'))).ms);
      for (const [key, into] of [
        ['alice', viaSocket],
        ['nodecmd', viaNode],
      ] as const) {
        const r = await ssh(fast.argv(key, 'submit dev pb-bench main'));
        if (r.code !== 0) throw new Error(`submit failed: ${r.out}`);
        into.push(r.ms);
      }
    }
    const f = stats(floor);
    const s = stats(viaSocket);
    const n = stats(viaNode);
    console.log(`round trip over ${ROUNDS} interleaved runs (ms):`);
    console.log(`  no-op forced command             median ${f.median.toFixed(0)}  p95 ${f.p95.toFixed(0)}`);
    console.log(
      `  submit, fast client + daemon     median ${s.median.toFixed(0)}  p95 ${s.p95.toFixed(0)}  ratio ${(s.median / f.median).toFixed(2)}x (target <= 1.25x)`,
    );
    console.log(
      `  submit, Node forced command      median ${n.median.toFixed(0)}  p95 ${n.p95.toFixed(0)}  ratio ${(n.median / f.median).toFixed(2)}x`,
    );
    const sshd = fast;

    const queueDir = path.join(b.root, 'queue');
    const before = fs.readdirSync(queueDir).filter((n) => n.endsWith('.json')).length;
    let next = 0;
    let failed = 0;
    const t0 = Date.now();
    await Promise.all(
      [...Array(CLIENTS)].map(async () => {
        while (next < TOTAL) {
          next++;
          const r = await ssh(sshd.argv('alice', 'submit dev pb-bench main'));
          if (r.code !== 0) failed++;
        }
      }),
    );
    const queued = fs.readdirSync(queueDir).filter((n) => n.endsWith('.json')).length - before;
    console.log(
      `${TOTAL} submissions from ${CLIENTS} concurrent clients in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${queued} queued, ${failed} failed (target: all ${TOTAL} queued)`,
    );
  } finally {
    await fast.stop();
    repo.cleanup();
    blocker.cleanup();
    await b.cleanup();
  }
}

await main();
