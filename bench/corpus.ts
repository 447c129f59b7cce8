/**
 * Debian's own source packages through pocketbuild, compared with Debian's binaries.
 *
 *   npm run corpus -- [--list FILE] [--only a,b,...] [--ci] [--nocheck] [--slots N] [--cross ARCH] [--json FILE] [--keep]
 *
 * Each package is downloaded (apt-get source), imported (gbp import-dsc --pristine-tar),
 * pushed to a repository made with `pocketbuild repo create`, submitted to one pocket and
 * built by the real daemon; then every binary package is compared with Debian's build of
 * the same source version (apt-get download): same set of packages, same paths and symlink
 * targets inside. Prints a table and `N of M real packages match Debian`; the results go to
 * a JSON file. Exit 0 only when every package matches. As root, builds run as the
 * unprivileged test user, as in the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import setup from '../test/helpers/global-setup.js';
import { PROJECT } from '../test/helpers/env.js';
import { corpusTable, readCorpusList, runCorpus } from '../test/helpers/corpus.js';

const USAGE = `usage: npm run corpus -- [--list FILE] [--only NAME,...] [--ci] [--nocheck] [--slots N] [--cross ARCH] [--json FILE] [--keep]
  --list FILE   the package list (default bench/corpus/bookworm.txt)
  --only A,B    just these packages of the list
  --ci          just the packages marked [ci] (the subset npm test builds)
  --nocheck     build with DEB_BUILD_OPTIONS=nocheck (skip test suites)
  --slots N     build slots of the daemon (default 1; each slot gets CPUs/N for parallel=)
  --cross ARCH  the pocket publishes ARCH too (cross-built); its packages are compared with Debian's ARCH build
  --json FILE   where the results go (default corpus-results.json)
  --keep        keep the instance's directory (logs, repository) and print where it is`;

function parseArgs(argv: string[]) {
  const o = {
    list: path.join(PROJECT, 'bench', 'corpus', 'bookworm.txt'),
    only: [] as string[],
    ci: false,
    nocheck: false,
    slots: 1,
    cross: undefined as string | undefined,
    json: 'corpus-results.json',
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--list') o.list = value();
    else if (a === '--only') o.only = value().split(',').filter(Boolean);
    else if (a === '--ci') o.ci = true;
    else if (a === '--nocheck') o.nocheck = true;
    else if (a === '--slots') o.slots = Number(value());
    else if (a === '--json') o.json = value();
    else if (a === '--cross') o.cross = value();
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.slots) || o.slots < 1) throw new Error('--slots needs a positive integer');
  return o;
}

async function main(): Promise<number> {
  let o: ReturnType<typeof parseArgs>;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`corpus: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  let entries = readCorpusList(o.list);
  if (o.ci) entries = entries.filter((e) => e.ci);
  if (o.only.length) {
    const unknown = o.only.filter((n) => !entries.some((e) => e.name === n));
    if (unknown.length) {
      console.error(`corpus: not in ${o.list}: ${unknown.join(', ')}`);
      return 2;
    }
    entries = entries.filter((e) => o.only.includes(e.name));
  }
  setup();
  const t0 = Date.now();
  const { results, root } = await runCorpus({
    entries,
    debBuildOptions: o.nocheck ? 'nocheck' : undefined,
    slots: o.slots,
    keep: o.keep,
    ...(o.cross ? { cross: o.cross } : {}),
    progress: (l) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`),
  });
  const wall = (Date.now() - t0) / 1000;
  fs.writeFileSync(
    o.json,
    JSON.stringify(
      { list: o.list, wall_seconds: wall, deb_build_options: o.nocheck ? 'nocheck' : '', results },
      null,
      2,
    ) + '\n',
  );
  console.log(corpusTable(results));
  console.log(
    `wall time ${(wall / 60).toFixed(1)} min; results in ${o.json}${o.keep ? `; instance kept in ${root}` : ''}`,
  );
  return results.every((r) => r.match) ? 0 : 1;
}

process.exitCode = await main();
