import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import type { PocketConfig } from '../config/types.js';
import { PocketbuildError } from '../util/errors.js';
import { runChecked } from '../util/run.js';
import { withLock } from '../util/lock.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { gnupgHome } from '../publish/signing-key.js';
import { sha256File } from '../util/sha256-file.js';
import { HOOK_NAME, hookScript } from './release-hook.js';

/**
 * The checkout whose CLI reprepro's signing hook runs: the nearest directory upwards with a
 * package.json (this module runs from src/ under vitest, from dist/, and from dist-bench/src/).
 */
const PROJECT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

export interface AptRepoOptions {
  /** `<state_dir>/apt`: conf/, db/, dists/, pool/. */
  dir: string;
  stateDir: string;
}

/**
 * The published, signed APT repository, one suite per pocket, kept by reprepro.
 * reprepro keeps one database for all suites and fails at once (rather than waiting) when
 * another process has it open, so every call, read or write, goes through one lock shared
 * by build slots and by other daemons on the same state dir.
 */
/** How long a reprepro lock file not ours may stay before it is taken to be left by a killed reprepro. */
const READER_WAIT_MS = 15_000;

export class AptRepository {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  /** Outside the published tree, which clients see. */
  private readonly lockPath: string;

  /** The repository of a configured builder: `<state_dir>/apt`. */
  static forStateDir(stateDir: string): AptRepository {
    return new AptRepository({ dir: path.join(stateDir, 'apt'), stateDir });
  }

  constructor(o: AptRepoOptions) {
    this.dir = o.dir;
    this.lockPath = path.join(o.stateDir, 'locks', 'reprepro');
    this.env = { ...process.env, GNUPGHOME: gnupgHome(o.stateDir) };
  }

  /**
   * (Re)write conf/distributions for the configured pockets and export every suite, so clients
   * and build-dep resolution see (possibly empty) signed indices. Signing goes through our hook,
   * which adds by-hash indices; a repository made before that gets them here, since its
   * conf/distributions changes.
   */
  async configure(pockets: PocketConfig[], fpr: string): Promise<void> {
    fs.mkdirSync(path.join(this.dir, 'conf'), { recursive: true });
    const hook = hookScript({
      node: process.execPath,
      cli: path.join(PROJECT, 'dist', 'cli', 'main.js'),
      fingerprint: fpr,
    });
    const stanzas = pockets.map((p) =>
      [
        'Origin: pocketbuild',
        `Label: pocketbuild ${p.name}`,
        `Codename: ${p.suite}`,
        `Suite: ${p.suite}`,
        `Architectures: ${p.architectures.join(' ')} source`,
        'Components: main',
        // Installer components (udebs) of a source go to main/debian-installer, as in Debian.
        'UDebComponents: main',
        // The codename stays the pocket's suite: reprepro needs it unique, and pockets share releases.
        `Description: pocketbuild pocket ${p.name}, built for Debian ${p.distribution}`,
        `SignWith: ! ${HOOK_NAME}`,
      ].join('\n'),
    );
    const conf = stanzas.join('\n\n') + '\n';
    await this.locked(async () => {
      const hookFile = path.join(this.dir, 'conf', HOOK_NAME);
      if (!fs.existsSync(hookFile) || fs.readFileSync(hookFile, 'utf8') !== hook)
        writeFileAtomic(hookFile, hook, 0o755);
      const file = path.join(this.dir, 'conf', 'distributions');
      const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      if (before !== conf || !fs.existsSync(path.join(this.dir, 'dists'))) {
        fs.writeFileSync(file, conf);
        await this.reprepro(['export']);
      }
    });
  }

  /**
   * The source version the suite publishes for `source`, or null. Locked like a write:
   * reprepro refuses even to read while another process holds its database.
   */
  async publishedVersion(suite: string, source: string): Promise<string | null> {
    const r = await this.locked(() =>
      this.reprepro(['-A', 'source', '--list-format', '${version}\\n', 'list', suite, source]),
    );
    return (
      r
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l) ?? null
    );
  }

  /**
   * Whether the suite publishes exactly this source package: its version is `version` and the
   * pool's .dsc has this sha256 (a pool file name holds one content only, so a matching .dsc
   * is this build's or a byte-identical one). Asked when a daemon died while publishing.
   */
  async holdsSource(suite: string, source: string, version: string, dscSha256: string): Promise<boolean> {
    if ((await this.publishedVersion(suite, source)) !== version) return false;
    const dsc = this.poolFile(source, `${source}_${version.replace(/^\d+:/, '')}.dsc`);
    return fs.existsSync(dsc) && (await sha256File(dsc)) === dscSha256;
  }

  /** Where the pool keeps a file of a source package (one file per name, for every suite). */
  poolFile(source: string, file: string): string {
    const prefix = source.startsWith('lib') ? source.slice(0, 4) : source[0]!;
    return path.join(this.dir, 'pool', 'main', prefix, source, file);
  }

  /**
   * Publish in suite `to` the source package and its binaries exactly as suite `from` has
   * them (reprepro copysrc): the suites share the pool, so the files are the same files. With
   * `replace`, the source's current version in `to` is removed first, as for include.
   */
  async copySource(
    to: string,
    from: string,
    source: string,
    version: string,
    o: { replace?: boolean; log?: Writable } = {},
  ): Promise<void> {
    await this.wholeOrNothing(o.log, async () => {
      if (o.replace) await this.reprepro(['--export=silent-never', 'removesrc', to, source], o.log);
      await this.reprepro(['copysrc', to, from, source, version], o.log);
    });
  }

  /** Withdraw a source package and its binaries from a suite; its pool files go once no suite needs them. */
  async removeSource(suite: string, source: string, log?: Writable): Promise<void> {
    await this.wholeOrNothing(log, async () => {
      await this.reprepro(['removesrc', suite, source], log);
      await this.reprepro(['deleteunreferenced'], log);
    });
  }

  /**
   * Publish a build's .changes (the native one first, then one per cross-built architecture)
   * into a suite, signed. The distribution named inside the
   * .changes is the packager's wish; the pocket decides. With `replace` (backtracking
   * pockets) the source's current version is removed first, in the same locked section,
   * because reprepro never puts an older version over a newer one. The removal is exported
   * with the inclusion, as one new Release: clients never see the package gone in between.
   */
  async include(suite: string, changesFiles: string[], o: { replace?: boolean; log?: Writable } = {}): Promise<void> {
    await this.wholeOrNothing(o.log, async () => {
      const first = changesFiles[0]!;
      const source = o.replace ? /^Source:\s*(\S+)/m.exec(fs.readFileSync(first, 'utf8'))?.[1] : undefined;
      if (source) await this.reprepro(['--export=silent-never', 'removesrc', suite, source], o.log);
      try {
        // A cross-built architecture's .changes adds its binaries; one export signs them all.
        for (const [i, file] of changesFiles.entries()) {
          const last = i === changesFiles.length - 1;
          await this.reprepro(
            ['--ignore=wrongdistribution', ...(last ? [] : ['--export=silent-never']), 'include', suite, file],
            o.log,
          );
        }
      } catch (e) {
        // The removal is in the database but not yet in the suite's indices: export it, so the
        // suite says what the database holds (the error that matters is the include's).
        if (source) await this.reprepro(['export', suite], o.log).catch(() => undefined);
        throw e;
      }
    });
  }

  /**
   * Run `fn` while no one publishes: for readers of dists/ (apt-get update of the pocket's
   * own suite), which would otherwise see an InRelease and a Packages from two generations.
   */
  whilePublishingPaused<T>(fn: () => Promise<T>): Promise<T> {
    return this.locked(fn);
  }

  /**
   * Run a change of the database so that it happens whole or not at all: reprepro writes its
   * database before it signs and exports, so a failing signer, a reprepro that fails after
   * writing, or one killed half-way would leave the database holding what the suite's signed
   * indices do not. The database is copied first; on failure the copy is put back, what the
   * pool gained is deleted and the indices are exported again from it. A copy found when the
   * lock is next taken is the mark of a publisher killed mid-change, undone the same way.
   */
  private wholeOrNothing<T>(log: Writable | undefined, fn: () => Promise<T>): Promise<T> {
    return this.locked(async () => {
      fs.cpSync(path.join(this.dir, 'db'), this.dbBefore, { recursive: true });
      try {
        const r = await fn();
        fs.rmSync(this.dbBefore, { recursive: true, force: true });
        return r;
      } catch (e) {
        await this.rollBack(log);
        throw e;
      }
    });
  }

  private get dbBefore(): string {
    return path.join(this.dir, 'db.before-publish');
  }

  private async rollBack(log?: Writable): Promise<void> {
    if (!fs.existsSync(this.dbBefore)) return;
    const db = path.join(this.dir, 'db');
    fs.rmSync(db, { recursive: true, force: true });
    fs.renameSync(this.dbBefore, db);
    log?.write('publish: the repository database was put back as it was before this publish\n');
    await this.reprepro(['deleteunreferenced'], log).catch(() => undefined);
    // Fails again if the signer still fails; then the suite's indices were never replaced either.
    await this.reprepro(['export'], log).catch(() => undefined);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(this.lockPath, async () => {
      // Every reprepro run of ours holds this lock, so a reprepro lock file seen now is either
      // someone else's short read (an admin's `reprepro list`) or was left by one killed with
      // its daemon (SIGKILL, power cut); left there, it would refuse every later publish. A
      // read ends in moments: one still there after READER_WAIT_MS is taken to be left over.
      const stale = path.join(this.dir, 'db', 'lockfile');
      for (let waited = 0; fs.existsSync(stale) && waited < READER_WAIT_MS; waited += 200)
        await new Promise((resolve) => setTimeout(resolve, 200));
      if (fs.existsSync(stale)) {
        fs.rmSync(stale, { force: true });
        process.stderr.write(
          `${new Date().toISOString()} publish: removed ${stale}, left by a reprepro that was killed\n`,
        );
      }
      if (fs.existsSync(this.dbBefore)) {
        process.stderr.write(
          `${new Date().toISOString()} publish: a publish was cut short (its publisher was killed): putting the repository database back as it was before it\n`,
        );
        await this.rollBack();
      }
      return fn();
    });
  }

  private async reprepro(args: string[], log?: Writable): Promise<string> {
    try {
      // A reader that starts between the check above and this run is waited for, not failed on.
      const r = await runChecked(['reprepro', '--silent', '--waitforlock', '3', '-b', this.dir, ...args], {
        env: this.env,
        timeoutMs: 10 * 60_000,
        log,
        what: 'reprepro',
      });
      return r.stdout;
    } catch (e) {
      // reprepro ends with advice about its own files; the first error line is the cause.
      const stderr = String((e as PocketbuildError).data?.stderr ?? '');
      const cause = stderr.split('\n').find((l) => /\b(ERROR|[Ee]rror|failed)\b/.test(l)) ?? (e as Error).message;
      const what = args
        .filter((a) => !a.startsWith('-'))
        .map((a) => path.basename(a))
        .join(' ');
      // The reason reaches remote submitters: file names, not the server's paths.
      throw new PocketbuildError('PublishFailed', `reprepro ${what} failed: ${withoutPaths(cause.trim())}`, { args });
    }
  }
}

/** `/a/b/c.changes` → `c.changes`, wherever a path appears in a message. */
function withoutPaths(s: string): string {
  return s.replace(/\/[^\s'"`:]*\/([^\s'"`/:]+)/g, '$1');
}
