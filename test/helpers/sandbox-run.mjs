// Runs one command in a fresh pocketbuild sandbox over the shared base image, as the
// calling (unprivileged) user. Used by tests to play "a fresh machine" with no network.
// Usage: node sandbox-run.mjs '{"base": "...", "binds": [...], "script": "..."}'
import path from 'node:path';
import os from 'node:os';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
const { runInUsernsSandbox } = await import(path.join(dist, 'sandbox', 'userns.js'));
const o = JSON.parse(process.argv[2]);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-sbx-'));
const r = await runInUsernsSandbox({
  base: o.base,
  scratch,
  binds: o.binds,
  argv: ['sh', '-c', o.script],
  env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C.UTF-8' },
  limits: { timeoutMs: 300_000, diskMb: 2048, processes: 500, memoryMb: 4096, cpuSeconds: 300 },
  log: process.stdout,
});
process.exitCode = r.code ?? 1;
