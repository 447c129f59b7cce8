import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import {
  CLI,
  asTestUser,
  runAs,
  tempDirForTestUser,
  testUserEnv,
  writeExecutable,
  processesUnder,
} from '../helpers/env.js';
import { SharedFileSystem, canMountSshfs } from '../helpers/shared-fs.js';

/**
 * Builders on several hosts (docs/several-hosts.md), for real: the publishing host holds the
 * state on its own disk; two builder hosts see it through two sshfs mounts (a real network file
 * system: SFTP over ssh, no inotify, no locks of its own). Three daemons, each with its own config,
 * scratch and `reprepro` that records any call (builder hosts must never run it), build a few
 * hundred requests submitted through all three views at once; then one builder is killed
 * mid-build and another takes the request over once its claim is stale.
 */
const REQUESTS = 300;
const PACKAGES = ['pb-hosts-a', 'pb-hosts-b', 'pb-hosts-c', 'pb-hosts-d', 'pb-hosts-f', 'pb-hosts-g'];
const VERSIONS = ['1.0', '1.1'];
/** Long enough that a daemon stalled by a loaded CI machine does not look dead (refreshed every third of it). */
const STALE_SECONDS = 10;

const why = canMountSshfs();

describe.skipIf(why !== null && !process.env.CI)(
  `builders on several hosts over sshfs${why ? ` (${why})` : ''}`,
  () => {
    let b: TestBuilder;
    let shared: SharedFileSystem;
    const hosts: { name: string; config: string; log: string; daemon?: ChildProcess; trap: string }[] = [];
    const commits = new Map<string, Map<string, string>>();
    let events: string;
    let publisher: ChildProcess;

    beforeAll(async () => {
      b = new TestBuilder('hosts', { pockets: { stable: {} }, slots: 2, claimStaleSeconds: STALE_SECONDS });
      events = path.join(tempDirForTestUser('hosts-events'), 'events');
      writeExecutable(
        path.join(b.hooksDir, 'record'),
        `#!/bin/sh\necho "$POCKETBUILD_EVENT $POCKETBUILD_ID" >> ${events}\nexit 0\n`,
      );
      for (const pkg of PACKAGES) {
        const repo = new PackageRepo(b.reposDir, pkg);
        commits.set(pkg, new Map(VERSIONS.map((v) => [v, repo.commitVersion({ version: v })])));
      }
      const handed = new PackageRepo(b.reposDir, 'pb-hosts-e');
      commits.set('pb-hosts-e', new Map([['1.0', handed.commitVersion({ version: '1.0' })]]));
      const slow = new PackageRepo(b.reposDir, 'pb-hosts-slow');
      commits.set(
        'pb-hosts-slow',
        new Map([['1.0', slow.commitVersion({ version: '1.0', buildCommands: ['sleep 20'] })]]),
      );
      // The publishing host: its disk holds state_dir, queue_dir and repos_dir.
      publisher = await b.startDaemon();

      shared = new SharedFileSystem(tempDirForTestUser('hosts-server'), b.root);
      await shared.start();
      const base = fs.readFileSync(b.configFile, 'utf8');
      for (const name of ['builder1', 'builder2']) {
        const local = tempDirForTestUser(`hosts-${name}`);
        const mount = path.join(local, 'shared');
        shared.mount(mount);
        // A reprepro that only says it was called: a builder host never touches the repository's database.
        const trap = path.join(local, 'trap');
        runAs(['mkdir', path.join(local, 'bin')]);
        writeExecutable(path.join(local, 'bin', 'reprepro'), `#!/bin/sh\necho "$*" >> ${trap}\nexit 1\n`);
        const config = path.join(local, 'config.yml');
        const yaml =
          base
            .split(b.root)
            .join(mount)
            .replace(/^daemon:$/m, 'daemon:\n  publish: false') + `work_dir: ${path.join(local, 'work')}\n`;
        fs.writeFileSync(config, yaml);
        hosts.push({ name, config, log: path.join(local, 'daemon.log'), trap });
      }
      for (const h of hosts)
        h.daemon = await b.startDaemonWith(h.config, h.log, {
          PATH: `${path.join(path.dirname(h.config), 'bin')}:${process.env.PATH}`,
        });
    }, 600_000);

    afterAll(async () => {
      await b?.cleanup();
      await shared?.stop();
    });

    const entries = () => b.auditEntries();

    /** `submit` through one host's view (its config names the mount), as a user on that host would. */
    const submitVia = (config: string, pkg: string, version: string): Promise<string> => {
      const argv = asTestUser([
        'node',
        CLI,
        '--config',
        config,
        'submit',
        'stable',
        pkg,
        commits.get(pkg)!.get(version)!,
      ]);
      return new Promise((resolve, reject) => {
        const p = spawn(argv[0]!, argv.slice(1), { env: testUserEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('close', (code) =>
          code === 0 ? resolve(out.trim()) : reject(new Error(`submit failed (${code}): ${err}`)),
        );
      });
    };

    it(
      `${REQUESTS} requests through three views end exactly once, published by one daemon only`,
      async () => {
        const views = [b.configFile, ...hosts.map((h) => h.config)];
        const wanted = Array.from({ length: REQUESTS }, (_, i) => ({
          pkg: PACKAGES[i % PACKAGES.length]!,
          version: VERSIONS[(i * 7 + Math.floor(i / 5)) % VERSIONS.length]!,
          view: views[i % views.length]!,
        }));
        const ids: string[] = [];
        // Six submitters at a time, spread over the three views.
        for (let i = 0; i < wanted.length; i += 6)
          ids.push(...(await Promise.all(wanted.slice(i, i + 6).map((w) => submitVia(w.view, w.pkg, w.version)))));
        expect(new Set(ids).size).toBe(REQUESTS);

        const results = await Promise.all(ids.map((id) => b.waitFor(id, 30 * 60_000)));
        const byId = new Map(ids.map((id, i) => [id, { ...wanted[i]!, result: results[i]! }]));

        // Each ended exactly once: one build.finished, one `started` and one final hook run.
        const log = entries();
        const count = (type: string, id: string) => log.filter((e) => e.type === type && e.build === id).length;
        const twice = ids.filter((id) => count('build.finished', id) !== 1);
        expect(twice).toEqual([]);
        const ev = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean);
        for (const id of ids) {
          expect(ev.filter((l) => l === `started ${id}`)).toHaveLength(1);
          expect(ev.filter((l) => l.endsWith(` ${id}`) && !/^(submitted|started) /.test(l))).toHaveLength(1);
        }

        // Per package, in queue order: a version builds only if newer than what is published, once.
        const outcomes = new Set(results.map((r) => `${r.status}${r.code ? ` ${r.code}` : ''}`));
        expect([...outcomes].filter((o) => o !== 'succeeded' && !o.startsWith('denied '))).toEqual([]);
        for (const pkg of PACKAGES) {
          const mine = [...byId.entries()].filter(([, w]) => w.pkg === pkg).sort(([a], [c]) => a.localeCompare(c));
          let published: string | null = null;
          for (const [id, w] of mine) {
            const newer = published === null || w.version > published;
            expect(`${id} ${w.version} ${w.result.status}`).toBe(
              `${id} ${w.version} ${newer ? 'succeeded' : 'denied'}`,
            );
            if (newer) published = w.version;
            expect(count('publish', id)).toBe(newer ? 1 : 0);
            expect(
              log.filter((e) => e.type === 'build.stage' && e.build === id && e.data.stage === 'build'),
            ).toHaveLength(newer ? 1 : 0);
          }
        }
        expect(b.published('stable')).toEqual(PACKAGES.map((p) => `${p} ${VERSIONS.at(-1)}`));
        for (const pkg of PACKAGES)
          expect(b.git(pkg, ['rev-parse', 'refs/heads/stable'])).toBe(commits.get(pkg)!.get('1.1'));

        // Builder hosts built and handed off; only the publishing host ran reprepro.
        for (const h of hosts) {
          expect(fs.existsSync(h.trap) ? fs.readFileSync(h.trap, 'utf8') : '').toBe('');
          expect(fs.readFileSync(h.log, 'utf8')).toMatch(/built; handed to the publishing daemon/);
        }
        expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'))).toEqual([]);
        expect(b.cli(['audit', 'verify']).status).toBe(0);
      },
      45 * 60_000,
    );

    it(
      'a host killed mid-build: another takes the request over once its claim is stale',
      async () => {
        const id = await submitVia(hosts[0]!.config, 'pb-hosts-slow', '1.0');
        const logOf = () => b.buildLog(id);
        const building = (log: string) => fs.readFileSync(log, 'utf8').includes(`build ${id}: build...`);
        const daemonLog = path.join(b.root, 'daemon.log');
        for (let i = 0; i < 2400 && !logOf().includes('==> build '); i++) await sleep(250);
        // Whichever daemon has it is killed; if it was the publishing one, it comes back once a builder took over.
        const holder = [...hosts, { name: 'publisher', log: daemonLog, config: b.configFile }].find((h) =>
          building(h.log),
        );
        expect(holder, `the build is not running:\n${logOf()}`).toBeDefined();
        const killedAt = Date.now();
        if (holder!.name === 'publisher') {
          publisher.kill('SIGKILL');
          await new Promise((r) => publisher.once('exit', r));
          for (let i = 0; i < 2400 && !hosts.some((h) => building(h.log)); i++) await sleep(250);
          publisher = await b.startDaemon();
        } else {
          const d = (holder as (typeof hosts)[number]).daemon!;
          d.kill('SIGKILL');
          await new Promise((r) => d.once('exit', r));
        }
        const r = await b.waitFor(id, 15 * 60_000);
        expect(r.status, logOf()).toBe('succeeded');
        // Taken over no sooner than the claim went stale.
        const claims = entries().filter((e) => e.type === 'build.claimed' && e.build === id);
        expect(claims.length).toBeGreaterThanOrEqual(2);
        expect(Date.now() - killedAt).toBeGreaterThanOrEqual(STALE_SECONDS * 1000);
        expect(entries().filter((e) => e.type === 'build.finished' && e.build === id)).toHaveLength(1);
        expect(entries().filter((e) => e.type === 'publish' && e.build === id)).toHaveLength(1);
        expect(b.published('stable')).toContain('pb-hosts-slow 1.0');
        // The killed host's sandbox went with it: nothing of its build runs on.
        expect(processesUnder(id)).toEqual([]);
        expect(b.cli(['audit', 'verify']).status).toBe(0);
      },
      20 * 60_000,
    );

    it(
      'a builder host killed after noting a build and before handing it off: published once, never built again',
      async () => {
        const alive = (d: ChildProcess) => d.exitCode === null && d.signalCode === null;
        const h = hosts[0]!;
        const env = { PATH: `${path.join(path.dirname(h.config), 'bin')}:${process.env.PATH}` };
        // The others are paused so that the faulty builder takes the request.
        const others = [publisher, ...hosts.map((x) => x.daemon!)].filter(alive);
        others.forEach((d) => d.kill('SIGSTOP'));
        let id = '';
        try {
          const faulty = await b.startDaemonWith(h.config, h.log, {
            ...env,
            POCKETBUILD_FAULT: 'handoff:after-journal',
          });
          id = await submitVia(h.config, 'pb-hosts-e', '1.0');
          await Promise.race([new Promise((r) => faulty.once('exit', r)), sleep(10 * 60_000)]);
          expect(faulty.signalCode, b.buildLog(id)).toBe('SIGKILL');
          const journal = JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', id, 'journal.json'), 'utf8'));
          expect(journal.built.version).toBe('1.0');
          expect(fs.existsSync(path.join(b.root, 'queue', 'built', id))).toBe(false);
        } finally {
          others.forEach((d) => d.kill('SIGCONT'));
        }
        const r = await b.waitFor(id, 15 * 60_000);
        expect(r.status, b.buildLog(id)).toBe('succeeded');
        const mine = entries().filter((e) => e.build === id);
        expect(mine.filter((e) => e.type === 'build.stage' && e.data.stage === 'build')).toHaveLength(1);
        expect(mine.filter((e) => e.type === 'publish')).toHaveLength(1);
        expect(mine.filter((e) => e.type === 'build.finished')).toHaveLength(1);
        expect(
          fs
            .readFileSync(events, 'utf8')
            .split('\n')
            .filter((l) => l === `started ${id}`),
        ).toHaveLength(1);
        expect(b.published('stable')).toContain('pb-hosts-e 1.0');
        // Its result holds the builder's part (stages, base, build-dependencies): the publishing host rebuilds it.
        expect(r.stages.map((x) => x.name)).toEqual(
          expect.arrayContaining(['validate', 'build', 'provenance', 'publish', 'refs']),
        );
        const again = b.cli(['rebuild', id], true);
        expect(again.status, again.stdout + again.stderr).toBe(0);
        expect(again.stdout).toContain(`reproduced: build ${id}'s outputs are bit-for-bit identical`);
        expect(b.cli(['audit', 'verify']).status).toBe(0);
      },
      20 * 60_000,
    );
  },
);
