/**
 * The status site with a long history: 10,000 finished builds (records and the build index,
 * as the daemon writes them) served by `pocketbuild web` as a child process, and the same
 * pages, saved as files, served by nginx beside it. Requests to the home page, a package
 * page and build pages alternate between the two servers, one at a time, after a warm-up.
 * Prints p50 and p95 of each page on each server, the ratio, and the target (p95 <= 50 ms).
 *
 *   npm run bench:web -- [--builds N] [--requests N]
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import setup from '../test/helpers/global-setup.js';
import { spawnSync } from 'node:child_process';
import { CLI, removeTempDirs, tempDirForTestUser } from '../test/helpers/env.js';
import { freePort, NGINX, nginxConfig, startChild, waitForPort } from './servers.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const BUILDS = arg('--builds', 10_000);
const REQUESTS = arg('--requests', 300);
const TARGET_P95_MS = 50;
const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

function id(n: number): string {
  let s = '';
  for (let i = 0, v = n + 1_000_000; i < 16; i++, v = Math.floor(v / 32)) s = ID_ALPHABET[v % 32] + s;
  return s;
}

/** BUILDS finished builds of 200 packages in 3 pockets, as records and index lines. */
function makeHistory(state: string): string[] {
  const ids: string[] = [];
  const lines: string[] = [];
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  for (let n = 0; n < BUILDS; n++) {
    const bid = id(n);
    ids.push(bid);
    const time = new Date(t0 + n * 60_000).toISOString();
    const req = {
      v: 1,
      id: bid,
      pocket: ['dev', 'staging', 'stable'][n % 3]!,
      package: `pkg-${n % 200}`,
      commit: (n.toString(16) + 'a'.repeat(40)).slice(0, 40),
      commit_spec: 'main',
      principal: ['alice', 'bob', 'carol'][n % 3]!,
      origin: 'ssh',
      time,
    };
    const failed = n % 7 === 0;
    const result = {
      ...req,
      status: failed ? 'failed' : 'succeeded',
      ...(failed ? { code: 'BuildFailed', reason: 'debian/rules binary exited with status 2' } : {}),
      version: `1.${n}`,
      started: time,
      finished: new Date(t0 + n * 60_000 + 30_000).toISOString(),
      stages: [
        { name: 'export', ms: 100 },
        { name: 'build', ms: 20_000 },
      ],
      outputs: [{ file: `${req.package}_1.${n}_all.deb`, size: 1000, sha256: 'c'.repeat(64) }],
    };
    const dir = path.join(state, 'builds', bid);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'request.json'), JSON.stringify(req));
    fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify(result));
    fs.writeFileSync(path.join(dir, 'build.log'), `==> build\n${'a build log line\n'.repeat(200)}`);
    const { outputs: _o, stages: _s, ...indexed } = result;
    lines.push(JSON.stringify(indexed));
  }
  fs.mkdirSync(path.join(state, 'index'), { recursive: true });
  fs.writeFileSync(path.join(state, 'index', 'builds.jsonl'), lines.join('\n') + '\n');
  fs.mkdirSync(path.join(state, 'apt'), { recursive: true });
  return ids;
}

function get(port: number, urlPath: string): Promise<{ ms: number; status: number; body: Buffer }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            ms: Number(process.hrtime.bigint() - t0) / 1e6,
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks),
          }),
        );
      })
      .on('error', reject);
  });
}

async function main(): Promise<void> {
  if (!fs.existsSync(NGINX)) {
    console.error(`bench:web needs nginx (${NGINX}) as the side-by-side peer; as root: apt-get install nginx`);
    process.exitCode = 1;
    return;
  }
  await setup();
  const root = tempDirForTestUser('bench-web');
  const state = path.join(root, 'state');
  process.stderr.write(`bench:web: writing ${BUILDS} finished builds...\n`);
  const ids = makeHistory(state);
  // Made by this process; the server runs as the test user, who owns `root`.
  if (process.getuid?.() === 0) spawnSync('chown', ['-R', '--reference', root, state]);
  const webPort = await freePort();
  const nginxPort = await freePort();
  const cfg = path.join(root, 'config.yml');
  fs.writeFileSync(
    cfg,
    [
      `state_dir: ${state}`,
      'web:',
      '  listen: 127.0.0.1',
      `  port: ${webPort}`,
      'pockets:',
      ...['dev', 'staging', 'stable'].map((p) => `  ${p}:\n    suite: ${p}`),
    ].join('\n') + '\n',
  );
  const web = startChild(['node', CLI, '--config', cfg, 'web'], path.join(root, 'web.log'));
  await waitForPort(webPort, web.child, path.join(root, 'web.log'));

  // The pages as files for nginx: each one exactly as pocketbuild rendered it.
  const pages = [
    { name: 'home', url: '/' },
    { name: 'package', url: '/packages/pkg-17' },
    { name: 'build', url: '' },
  ];
  const site = path.join(root, 'site');
  fs.mkdirSync(site);
  const samples = Array.from({ length: 50 }, (_, i) => ids[Math.floor((i * ids.length) / 50)]!);
  for (const p of pages.filter((x) => x.url))
    fs.writeFileSync(path.join(site, `${p.name}.html`), (await get(webPort, p.url)).body);
  for (const b of samples)
    fs.writeFileSync(path.join(site, `build-${b}.html`), (await get(webPort, `/builds/${b}`)).body);
  const nginxDir = tempDirForTestUser('bench-web-nginx');
  const nginx = startChild(
    [NGINX, '-e', path.join(nginxDir, 'error.log'), '-c', nginxConfig(nginxDir, nginxPort, [`root ${site};`])],
    path.join(nginxDir, 'out.log'),
  );
  await waitForPort(nginxPort, nginx.child, path.join(nginxDir, 'out.log'));

  const urls = (name: string, i: number): [string, string] => {
    if (name === 'home') return ['/', '/home.html'];
    if (name === 'package') return ['/packages/pkg-17', '/package.html'];
    const b = samples[i % samples.length]!;
    return [`/builds/${b}`, `/build-${b}.html`];
  };
  const times: Record<string, { pb: number[]; nginx: number[] }> = {};
  try {
    for (const p of pages) {
      times[p.name] = { pb: [], nginx: [] };
      for (let i = 0; i < 20; i++) {
        const [a, b] = urls(p.name, i);
        await get(webPort, a);
        await get(nginxPort, b);
      }
      for (let i = 0; i < REQUESTS; i++) {
        const [a, b] = urls(p.name, i);
        const order: Array<'pb' | 'nginx'> = i % 2 ? ['pb', 'nginx'] : ['nginx', 'pb'];
        for (const who of order) {
          const r = who === 'pb' ? await get(webPort, a) : await get(nginxPort, b);
          if (r.status !== 200) throw new Error(`${who} ${who === 'pb' ? a : b}: status ${r.status}`);
          times[p.name]![who].push(r.ms);
        }
      }
    }
  } finally {
    await web.stop();
    await nginx.stop();
  }
  console.log(`status site with ${BUILDS} finished builds, ${REQUESTS} requests per page and server, one at a time`);
  console.log('page      pocketbuild p50   p95      nginx (same bytes) p50   p95    ratio p95   target p95 <= 50 ms');
  for (const p of pages) {
    const t = times[p.name]!;
    const p95 = pct(t.pb, 0.95);
    console.log(
      `${p.name.padEnd(9)} ${pct(t.pb, 0.5).toFixed(1).padStart(9)} ms ${p95.toFixed(1).padStart(6)} ms   ${pct(
        t.nginx,
        0.5,
      )
        .toFixed(1)
        .padStart(
          9,
        )} ms ${pct(t.nginx, 0.95).toFixed(1).padStart(6)} ms   ${(p95 / pct(t.nginx, 0.95)).toFixed(1).padStart(6)}x    ${
        p95 <= TARGET_P95_MS ? 'met' : 'MISSED'
      }`,
    );
  }
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(removeTempDirs);
