/**
 * apt over HTTP from `pocketbuild web` against nginx serving the same directory: a 20 MB
 * .deb of random (incompressible) data is published with the product's publish call, both
 * servers run as child processes on free loopback ports, and a client with a private apt
 * configuration runs `apt-get update` then `apt-get download` of the package from empty
 * lists and cache, through each server in turn (the order alternating), N rounds after a
 * warm-up. Prints the medians and the ratio pocketbuild/nginx (target: at most 1.25).
 *
 * Needs nginx (apt-get install nginx; it is run from its binary, never as the system service).
 *
 *   npm run bench:apt -- [--rounds N] [--mb SIZE]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import setup from '../test/helpers/global-setup.js';
import { freePort, median, NGINX, nginxConfig, startChild, waitForPort } from './servers.js';
import { makeChanges, makePublishedRepo } from '../test/helpers/apt-repo.js';
import { CLI, privateAptOptions, runAs, tempDirForTestUser } from '../test/helpers/env.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg('--rounds', 10);
const MB = arg('--mb', 20);

/** One client: its private apt state, emptied before each run so every run fetches everything. */
class Client {
  readonly dir: string;
  readonly opts: string[];
  constructor(
    readonly name: string,
    port: number,
    keyFile: string,
  ) {
    this.dir = tempDirForTestUser(`bench-apt-${name}`);
    this.opts = privateAptOptions(this.dir, [`deb [signed-by=${keyFile}] http://127.0.0.1:${port}/apt stable main`]);
    runAs(['mkdir', path.join(this.dir, 'download')]);
  }

  /** apt-get update and apt-get download from nothing; milliseconds of each. */
  run(pkg: string): { update: number; download: number } {
    runAs(['find', path.join(this.dir, 'lists'), path.join(this.dir, 'download'), '-type', 'f', '-delete']);
    const timed = (args: string[], cwd?: string) => {
      const t0 = process.hrtime.bigint();
      runAs(['apt-get', '-q', ...this.opts, ...args], { cwd, timeoutMs: 600_000 });
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    return { update: timed(['update']), download: timed(['download', pkg], path.join(this.dir, 'download')) };
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(NGINX)) {
    console.error(`bench:apt needs nginx (${NGINX}); as root: apt-get install nginx`);
    process.exitCode = 1;
    return;
  }
  setup();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-bench-apt-'));
  // Both servers run as the test user and read the repository as it.
  fs.chmodSync(tmp, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const clients: Client[] = [];
  const dirs: string[] = [tmp];
  try {
    const state = path.join(tmp, 'state');
    const made = await makePublishedRepo(state, ['stable']);
    stops.push(made.stop);
    fs.mkdirSync(path.join(tmp, 'upload'));
    const t0 = Date.now();
    const { changes, deb } = makeChanges(path.join(tmp, 'upload'), {
      name: 'pb-bench',
      version: '1.0',
      payloadBytes: MB * 1024 * 1024,
    });
    await made.repo.include('stable', [changes]);
    const size = fs.statSync(deb).size;
    console.log(`published pb-bench_1.0_all.deb (${(size / 1e6).toFixed(1)} MB, random data) in ${Date.now() - t0} ms`);

    const serverDir = tempDirForTestUser('bench-apt-servers');
    dirs.push(serverDir);
    const config = path.join(serverDir, 'config.yml');
    fs.writeFileSync(
      config,
      [
        `state_dir: ${state}`,
        `cache_dir: ${path.join(serverDir, 'cache')}`,
        'web:',
        '  port: 0',
        'pockets:',
        '  stable: {suite: stable}',
        '',
      ].join('\n'),
    );
    const webLog = path.join(serverDir, 'web.log');
    const web = startChild(['node', CLI, '--config', config, 'web'], webLog);
    stops.push(web.stop);
    let webPort = 0;
    for (let i = 0; i < 100 && !webPort; i++) {
      webPort = Number(
        /web: listening on 127\.0\.0\.1:(\d+)/.exec(
          fs.existsSync(webLog) ? fs.readFileSync(webLog, 'utf8') : '',
        )?.[1] ?? 0,
      );
      if (web.child.exitCode !== null) throw new Error(`pocketbuild web exited:\n${fs.readFileSync(webLog, 'utf8')}`);
      if (!webPort) await new Promise((r) => setTimeout(r, 100));
    }
    if (!webPort) throw new Error(`pocketbuild web did not start:\n${fs.readFileSync(webLog, 'utf8')}`);

    const nginxDir = tempDirForTestUser('bench-apt-nginx');
    dirs.push(nginxDir);
    const nginxPort = await freePort();
    const nginxLog = path.join(nginxDir, 'nginx.log');
    const nginx = startChild(
      [
        NGINX,
        '-e',
        path.join(nginxDir, 'error.log'),
        '-c',
        nginxConfig(nginxDir, nginxPort, [
          `location /apt/ { alias ${made.repo.dir}/; }`,
          'location ~ ^/apt/(conf|db)/ { deny all; }',
        ]),
      ],
      nginxLog,
    );
    stops.push(nginx.stop);
    await waitForPort(nginxPort, nginx.child, nginxLog);

    const keyFile = path.join(tmp, 'key.gpg');
    fs.copyFileSync(path.join(made.repo.dir, 'key.gpg'), keyFile);
    const pb = new Client('pocketbuild', webPort, keyFile);
    const ng = new Client('nginx', nginxPort, keyFile);
    clients.push(pb, ng);
    const sha = (f: string) => spawnSync('sha256sum', [f], { encoding: 'utf8', timeout: 60_000 }).stdout.split(' ')[0];

    const times: Record<string, Array<{ update: number; download: number }>> = { pocketbuild: [], nginx: [] };
    for (let round = 0; round <= ROUNDS; round++) {
      // Alternate who goes first, so neither always meets a warmer page cache.
      const order = round % 2 ? [ng, pb] : [pb, ng];
      for (const c of order) {
        const t = c.run('pb-bench');
        const got = path.join(c.dir, 'download', path.basename(deb));
        if (sha(got) !== sha(deb)) throw new Error(`${c.name}: the downloaded .deb is not the published one`);
        if (round > 0) times[c.name]!.push(t);
        process.stderr.write(
          `${c.name.padEnd(11)} ${round === 0 ? 'warm-up' : `round ${round}`}: update ${t.update.toFixed(0)} ms, download ${t.download.toFixed(0)} ms\n`,
        );
      }
    }
    const m = (name: string, k: 'update' | 'download' | 'total') =>
      median(times[name]!.map((t) => (k === 'total' ? t.update + t.download : t[k])));
    console.log(
      `apt-get update + apt-get download of a ${(size / 1e6).toFixed(1)} MB .deb, ${ROUNDS} rounds each, interleaved (medians):`,
    );
    for (const name of ['nginx', 'pocketbuild']) {
      console.log(
        `  ${name.padEnd(11)} total ${m(name, 'total').toFixed(0).padStart(6)} ms   update ${m(name, 'update').toFixed(0).padStart(5)} ms   download ${m(name, 'download').toFixed(0).padStart(5)} ms`,
      );
    }
    const ratio = m('pocketbuild', 'total') / m('nginx', 'total');
    console.log(
      `  pocketbuild / nginx: ${ratio.toFixed(2)} (target at most 1.25) ${ratio <= 1.25 ? 'ok' : 'OVER TARGET'}`,
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    for (const d of [...clients.map((c) => c.dir), ...dirs]) fs.rmSync(d, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
