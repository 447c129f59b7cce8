import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { sharedCacheDir } from '../helpers/env.js';
import { PackageRepo } from '../helpers/packages.js';

/**
 * The installed build-dependencies are a cached layer: made once per (base, exact .debs),
 * mounted by later builds of the same set, not by a build of a different set, made once when
 * two builds want it at the same time, made again after damage, pruned least recently used.
 * The library's name carries a per-run token, so its .debs (and so the layers' keys) are this
 * run's own, whatever else shares the cache.
 */
describe('the dependency layer', () => {
  let b: TestBuilder;
  const repos: PackageRepo[] = [];
  const token = crypto.randomBytes(4).toString('hex');
  const lib = `pbl-lib-${token}`;
  const layersDir = path.join(sharedCacheDir(), 'layers');

  beforeAll(async () => {
    // A 1 MB bound: every layer not used in the last 10 minutes is over it.
    b = new TestBuilder('deps-layer', { pockets: { dev: {} }, slots: 2, extraYaml: 'cache:\n  layers_max_mb: 1' });
    await b.startDaemon();
  });
  afterAll(async () => {
    for (const r of repos) r.cleanup();
    await b?.cleanup();
  });

  const commit = (name: string, p: Parameters<PackageRepo['commitVersion']>[0]) => {
    let repo = repos.find((r) => r.name === name);
    if (!repo) repos.push((repo = new PackageRepo(b.reposDir, name)));
    return repo.commitVersion(p);
  };
  const build = async (name: string, p: Parameters<PackageRepo['commitVersion']>[0]) => {
    const id = b.submit('dev', name, commit(name, p));
    return { id, result: await b.waitFor(id, 600_000), log: b.buildLog(id) };
  };
  /** The layer a build log says it made or used. */
  const layerOf = (log: string): string => {
    const prefix = /deps layer: (?:making|using) ([0-9a-f]{16})…/.exec(log)?.[1];
    expect(prefix, log).toBeDefined();
    const dirs = fs.readdirSync(layersDir).filter((d) => d.startsWith(prefix!) && /^[0-9a-f]{64}$/.test(d));
    expect(dirs).toHaveLength(1);
    return dirs[0]!;
  };
  const libDeb = (log: string) => new RegExp(`^  ${lib} (\\S+) all sha256:([0-9a-f]{64})$`, 'm').exec(log)?.slice(1);

  let firstLayer = '';

  it('is made by the first build of a set, and used, not downloaded or unpacked, by the next', async () => {
    // Its program is 2 MB, so this layer alone passes the 1 MB bound.
    const l1 = await build(lib, { version: '1.0', greeting: 'x'.repeat(2_000_000) });
    expect(l1.result.status, l1.log).toBe('succeeded');
    // Nothing to install: no layer.
    expect(l1.log).not.toContain('deps layer:');

    const a = await build(`pbl-a-${token}`, { version: '1.0', buildDepends: lib });
    expect(a.result.status, a.log).toBe('succeeded');
    expect(a.log).toMatch(/deps layer: making [0-9a-f]{16}… from 1 packages/);
    expect(a.log).toMatch(/deps layer: made in [\d.]+ s/);
    firstLayer = layerOf(a.log);

    const c = await build(`pbl-c-${token}`, { version: '1.0', buildDepends: lib });
    expect(c.result.status, c.log).toBe('succeeded');
    expect(c.log).toContain(`deps layer: using ${firstLayer.slice(0, 16)}…`);
    expect(c.log).not.toContain('downloading what the cache lacks');
    expect(c.log).not.toMatch(/Unpacking pbl-lib/);
    // The provenance names the same .deb, by the same sha256, either way.
    expect(libDeb(c.log)).toEqual(libDeb(a.log));
    expect(libDeb(c.log)?.[0]).toBe('1.0');
  });

  it('resolves without apt when nothing it reads changed', async () => {
    const failing = { version: '1.0', buildDepends: lib, buildCommands: ['false'] };
    const first = await build(`pbl-fails-${token}`, failing);
    expect(first.result.status).toBe('failed');
    const again = b.submit('dev', `pbl-fails-${token}`, b.git(`pbl-fails-${token}`, ['rev-parse', 'main']));
    expect((await b.waitFor(again, 600_000)).status).toBe('failed');
    const log = b.buildLog(again);
    expect(log).toContain('build-deps: resolved as before (same debian/control and package lists): 1 packages');
    expect(log).toContain(`deps layer: using ${firstLayer.slice(0, 16)}…`);
  });

  let secondLayer = '';

  it('is not used when one .deb differs, and two builds wanting a new one at once make it once', async () => {
    const l2 = await build(lib, { version: '2.0' });
    expect(l2.result.status, l2.log).toBe('succeeded');
    const needs = { version: '1.0', buildDepends: `${lib} (>= 2.0)` };
    const x = b.submit('dev', `pbl-x-${token}`, commit(`pbl-x-${token}`, needs));
    const y = b.submit('dev', `pbl-y-${token}`, commit(`pbl-y-${token}`, needs));
    const [rx, ry] = await Promise.all([b.waitFor(x, 600_000), b.waitFor(y, 600_000)]);
    const logs = [b.buildLog(x), b.buildLog(y)];
    expect(rx.status, logs[0]).toBe('succeeded');
    expect(ry.status, logs[1]).toBe('succeeded');
    expect(libDeb(logs[0]!)?.[0]).toBe('2.0');
    const made = logs.filter((l) => /deps layer: made in/.test(l));
    expect(made).toHaveLength(1);
    const other = logs.find((l) => l !== made[0])!;
    expect(other).toMatch(/deps layer: (?:using [0-9a-f]{16}…|[0-9a-f]{16}… was made by another build meanwhile)/);
    secondLayer = layerOf(made[0]!);
    expect(secondLayer).not.toBe(firstLayer);
  });

  it('is made again when damaged', async () => {
    // The library's one program, as its package installed it into the layer.
    const victim = path.join(layersDir, secondLayer, 'root', 'usr', 'bin', lib);
    expect(fs.statSync(victim).size).toBeGreaterThan(0);
    fs.truncateSync(victim, 0);
    const z = await build(`pbl-z-${token}`, { version: '1.0', buildDepends: `${lib} (>= 2.0)` });
    expect(z.result.status, z.log).toBe('succeeded');
    expect(z.log).toMatch(
      /deps layer: [0-9a-f]{16}… is damaged \(its files differ from when it was made \(\d+ files now, \d+ then\)\); removing it, to be made again/,
    );
    expect(z.log).toMatch(/deps layer: made in/);
    expect(fs.statSync(victim).size).toBeGreaterThan(0);
  });

  it('is removed once least recently used and over cache.layers_max_mb', async () => {
    // The first layer, last used an hour ago; the next layer made prunes it.
    const manifest = path.join(layersDir, firstLayer, 'manifest.json');
    const hourAgo = new Date(Date.now() - 3600_000);
    fs.utimesSync(manifest, hourAgo, hourAgo);
    const l3 = await build(lib, { version: '3.0' });
    expect(l3.result.status, l3.log).toBe('succeeded');
    const w = await build(`pbl-w-${token}`, { version: '1.0', buildDepends: `${lib} (>= 3.0)` });
    expect(w.result.status, w.log).toBe('succeeded');
    expect(fs.existsSync(path.join(layersDir, firstLayer))).toBe(false);
    // Used minutes ago: kept although the bound is passed.
    expect(fs.existsSync(path.join(layersDir, secondLayer, 'manifest.json'))).toBe(true);
    expect(fs.existsSync(path.join(layersDir, layerOf(w.log), 'manifest.json'))).toBe(true);
  });
});
