/**
 * `ssh … submit` through a real OpenSSH sshd, side by side in one run with the floor
 * OpenSSH itself sets (a forced command that does nothing): median and p95 round trip of
 * each, their ratio, then 1,000 submissions from 50 concurrent clients and how many were
 * queued. No daemon runs, so every accepted request stays in the queue to be counted.
 *
 *   npm run bench:ssh -- [--rounds N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { TestBuilder } from '../test/helpers/builder.js';
import { PackageRepo } from '../test/helpers/packages.js';
import { ClientKeys, OpenSshServer } from '../test/helpers/ssh.js';
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
  const keys = new ClientKeys(path.join(b.root, 'keys'), ['alice', 'floor']);
  const sshd = new OpenSshServer(b.root, keys, b.configFile, ['alice'], { floor: '/bin/true' });
  await sshd.start();
  try {
    b.cli(['init']);
    // Interleave the two so machine noise hits both alike.
    const floor: number[] = [];
    const submit: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      floor.push((await ssh(sshd.argv('floor', 'anything'))).ms);
      const r = await ssh(sshd.argv('alice', 'submit dev pb-bench main'));
      if (r.code !== 0) throw new Error(`submit failed: ${r.out}`);
      submit.push(r.ms);
    }
    const f = stats(floor);
    const s = stats(submit);
    console.log(`round trip over ${ROUNDS} interleaved runs (ms):`);
    console.log(`  no-op forced command  median ${f.median.toFixed(0)}  p95 ${f.p95.toFixed(0)}`);
    console.log(`  pocketbuild submit    median ${s.median.toFixed(0)}  p95 ${s.p95.toFixed(0)}`);
    console.log(`  ratio (median)        ${(s.median / f.median).toFixed(2)}x  (target <= 1.25x)`);

    const queueDir = path.join(b.root, 'queue');
    const before = fs.readdirSync(queueDir).filter((n) => n.endsWith('.json')).length;
    let next = 0;
    let failed = 0;
    const t0 = Date.now();
    await Promise.all([...Array(CLIENTS)].map(async () => {
      while (next < TOTAL) {
        next++;
        const r = await ssh(sshd.argv('alice', 'submit dev pb-bench main'));
        if (r.code !== 0) failed++;
      }
    }));
    const queued = fs.readdirSync(queueDir).filter((n) => n.endsWith('.json')).length - before;
    console.log(`${TOTAL} submissions from ${CLIENTS} concurrent clients in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${queued} queued, ${failed} failed (target: all ${TOTAL} queued)`);
  } finally {
    await sshd.stop();
    repo.cleanup();
    await b.cleanup();
  }
}

await main();
