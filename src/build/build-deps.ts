import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { PocketbuildError } from '../util/errors.js';
import { withLock } from '../util/lock.js';
import { run, runChecked, type RunResult } from '../util/run.js';
import { sha256File } from '../util/sha256-file.js';
import { writePrivateAptConfig, type AptSource } from '../debian/private-apt.js';

export type { AptSource };

export interface FetchBuildDepsOptions {
  /** The unpacked base: its dpkg status says what is installed already. */
  baseRoot: string;
  /** The exported source tree (has debian/control). */
  sourceDir: string;
  /** `<cache_dir>/apt`: lists and downloaded .debs shared by every build, guarded by a lock. */
  cacheDir: string;
  sources: AptSource[];
  /** Extra binary packages the build needs beyond Build-Depends (fakeroot for Rules-Requires-Root). */
  extra: string[];
  /** Receives exactly the resolved .debs and a `Packages` index for an offline apt inside the sandbox. */
  destDir: string;
  log: Writable;
  timeoutMs: number;
  /** Wraps `apt-get update`, so the pocket's own indices are not rewritten while apt reads them. */
  whileReadingSources?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** One resolved build-dependency, pinned by the sha256 of the exact file installed. */
export interface ResolvedDeb {
  name: string;
  version: string;
  arch: string;
  file: string;
  sha256: string;
  uri: string;
}

export class BuildDepsUnsatisfiable extends PocketbuildError {
  constructor(detail: string) {
    super('BuildDepsUnsatisfiable', `the build-dependencies cannot be satisfied from the configured archive and the pocket: ${detail}`, { detail });
  }
}

/**
 * Resolve and download the build-dependencies outside the sandbox, as the unprivileged
 * daemon user with a private APT configuration (the host's apt state is never touched).
 * The sandbox then installs this exact set with no network.
 */
export async function fetchBuildDeps(o: FetchBuildDepsOptions): Promise<ResolvedDeb[]> {
  fs.mkdirSync(o.destDir, { recursive: true });
  return withLock(o.cacheDir, async () => {
    const aptConfig = writePrivateAptConfig({ dir: o.cacheDir, status: path.join(o.baseRoot, 'var/lib/dpkg/status'), sources: o.sources });
    const env = { ...process.env, APT_CONFIG: aptConfig, LC_ALL: 'C.UTF-8' };
    const apt = (args: string[], extraOpts: string[] = []) =>
      run(['apt-get', '-q', ...extraOpts, ...args], { env, timeoutMs: o.timeoutMs, log: o.log });
    const checked = async (r: Promise<RunResult>, what: string) => {
      const res = await r;
      if (res.code !== 0) {
        const err = res.stdout.split('\n').concat(res.stderr.split('\n')).filter((l) => /^E: |unmet|Depends:/.test(l.trim()));
        if (what === 'resolve') throw new BuildDepsUnsatisfiable(err.join(' ').trim() || res.how);
        throw new PocketbuildError('AptFailed', `apt-get ${what} ${res.how}: ${err.join(' ').trim()}`);
      }
      return res;
    };
    o.log.write('build-deps: updating package lists\n');
    const consistently = o.whileReadingSources ?? ((fn) => fn());
    await consistently(() => checked(apt(['update']), 'update'));

    // Listing against an empty archive dir makes apt print every package it would install,
    // including the ones already in the shared cache.
    const probe = fs.mkdtempSync(path.join(o.destDir, '.probe-'));
    fs.mkdirSync(path.join(probe, 'partial'));
    const probeOpt = ['-o', `Dir::Cache::archives=${probe}`];
    const wanted = new Map<string, { uri: string; file: string }>();
    const collect = (r: RunResult) => {
      for (const line of r.stdout.split('\n')) {
        const m = /^'([^']+)' (\S+) \d+ \S+$/.exec(line);
        if (m) wanted.set(m[2]!, { uri: m[1]!, file: m[2]! });
      }
    };
    collect(await checked(apt(['build-dep', '--print-uris', '-y', o.sourceDir], probeOpt), 'resolve'));
    if (o.extra.length) collect(await checked(apt(['install', '--print-uris', '-y', ...o.extra], probeOpt), 'resolve'));
    fs.rmSync(probe, { recursive: true, force: true });

    o.log.write(`build-deps: ${wanted.size} packages to install; downloading what the cache lacks\n`);
    if (wanted.size) {
      await checked(apt(['build-dep', '--download-only', '-y', o.sourceDir]), 'download');
      if (o.extra.length) await checked(apt(['install', '--download-only', '-y', ...o.extra]), 'download');
    }
    const archives = path.join(o.cacheDir, 'archives');
    const out: ResolvedDeb[] = [];
    for (const { uri, file } of wanted.values()) {
      const from = uri.startsWith('file:') ? decodeURIComponent(uri.slice('file:'.length)) : path.join(archives, file);
      const to = path.join(o.destDir, file);
      fs.copyFileSync(from, to);
      const [name, version, arch] = file.replace(/\.deb$/, '').split('_').map(decodeURIComponent) as [string, string, string];
      out.push({ name, version, arch, file, sha256: await sha256File(to), uri });
    }
    const index = await runChecked(['dpkg-scanpackages', '--multiversion', '.'], {
      cwd: o.destDir, timeoutMs: 5 * 60_000, what: 'dpkg-scanpackages',
    });
    fs.writeFileSync(path.join(o.destDir, 'Packages'), index.stdout);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  });
}
