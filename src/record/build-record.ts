import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs-atomic.js';
import type { Request, RequestKey } from '../queue/request.js';
import { sha256File } from '../util/sha256-file.js';
import type { OutcomeCode } from '../util/outcomes.js';

// Build statuses (on disk, in hooks, in the CLI) and codes live in src/util/outcomes.ts; when changing them, update README.md.
import type { FinalStatus } from '../util/outcomes.js';
export type { FinalStatus, Status } from '../util/outcomes.js';

export interface OutputFile {
  file: string;
  size: number;
  sha256: string;
}

export interface StageTiming {
  name: string;
  ms: number;
}

export interface BuildResult extends RequestKey {
  status: FinalStatus;
  /** Stable outcome code when not succeeded (e.g. NotFastForward, VersionNotNewer, BuildFailed): a key of OUTCOMES. */
  code?: OutcomeCode;
  /** One sentence saying why, when not succeeded. */
  reason?: string;
  version?: string;
  started: string;
  finished: string;
  stages: StageTiming[];
  outputs: OutputFile[];
  base_digest?: string;
  /** Every .deb installed for the build; `file` is its name in the apt cache or pool (for rebuild). */
  build_deps?: Array<{ name: string; version: string; arch: string; sha256: string; file?: string }>;
  /** Those of each cross build, by architecture (a pocket of several, docs/architectures.md). */
  cross_deps?: Record<string, NonNullable<BuildResult['build_deps']>>;
}

/** What has durably happened in a build that must not happen twice (see BuildRecord.journal). */
export interface Journal {
  /**
   * A builder host (daemon.publish false) built and signed it and handed it to the publisher:
   * the checked outputs and provenance are whole, and no step before publish runs again.
   */
  built?: {
    version: string;
    changes: string;
    host: string;
    /** What the result of the build records, from the host that built it. */
    started: string;
    stages: StageTiming[];
    base_digest?: string;
    build_deps?: BuildResult['build_deps'];
    cross_deps?: BuildResult['cross_deps'];
  };
  /** Noted before reprepro is run: after a crash, the suite is asked whether it holds this build. */
  publishing?: { version: string; suite: string };
  published?: { version: string; suite: string };
  /** Where the pocket's branch pointed before this build moved it (for the one ref.moved entry). */
  refs_from?: { branch: string | null };
  refs_moved?: boolean;
  /** Hooks of the final event that have run, so a finish resumed after a crash runs only the rest. */
  hooks_ran?: string[];
}

/**
 * `<state_dir>/builds/<id>/`: request.json, build.log, result.json, SHA256SUMS, outputs/,
 * journal.json. The layout is an interface (README.md "State layout").
 */
export class BuildRecord {
  readonly dir: string;

  /** `dir` places the record elsewhere than builds/<id> (a rebuild's, under its original). */
  constructor(
    stateDir: string,
    readonly id: string,
    dir?: string,
  ) {
    this.dir = dir ?? path.join(stateDir, 'builds', id);
  }

  static list(stateDir: string): string[] {
    try {
      return fs.readdirSync(path.join(stateDir, 'builds')).sort();
    } catch {
      return [];
    }
  }

  get logFile(): string {
    return path.join(this.dir, 'build.log');
  }

  get outputsDir(): string {
    return path.join(this.dir, 'outputs');
  }

  begin(req: Request): void {
    fs.mkdirSync(this.dir, { recursive: true });
    if (!fs.existsSync(path.join(this.dir, 'request.json')))
      writeFileAtomic(path.join(this.dir, 'request.json'), JSON.stringify(req, null, 2) + '\n');
  }

  openLog(): fs.WriteStream {
    const stream = fs.createWriteStream(this.logFile, { flags: 'a' });
    // A log that cannot be written (a full disk) loses its lines, not the daemon: unheard, the
    // stream's error would end the process. The build's outcome says what went wrong.
    stream.on('error', () => {});
    return stream;
  }

  journal(): Journal {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, 'journal.json'), 'utf8')) as Journal;
    } catch {
      return {};
    }
  }

  /** Durably note a step that must not be repeated, before moving on. */
  note(update: Partial<Journal>): void {
    writeFileAtomic(
      path.join(this.dir, 'journal.json'),
      JSON.stringify({ ...this.journal(), ...update }, null, 2) + '\n',
    );
  }

  /** The files in outputs/ with their sha256, for a build resumed after they were checked. */
  async outputsOnDisk(): Promise<OutputFile[]> {
    const out: OutputFile[] = [];
    for (const file of fs.readdirSync(this.outputsDir).sort()) {
      const full = path.join(this.outputsDir, file);
      out.push({ file, size: fs.statSync(full).size, sha256: await sha256File(full) });
    }
    return out;
  }

  finish(result: BuildResult): void {
    if (result.outputs.length) {
      writeFileAtomic(
        path.join(this.dir, 'SHA256SUMS'),
        result.outputs.map((o) => `${o.sha256}  ${o.file}\n`).join(''),
      );
    }
    writeFileAtomic(path.join(this.dir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  }

  /**
   * Why `file` of the record (journal.json, result.json) exists but cannot be read: cut short
   * by a crash or a failing disk. Readers that only show a record take it as missing; the
   * daemon resuming the request must not, or it would forget a publish.
   */
  damage(file: 'journal.json' | 'result.json'): string | null {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, file), 'utf8');
    } catch {
      return null;
    }
    try {
      JSON.parse(text);
      return null;
    } catch {
      return `${Buffer.byteLength(text)} bytes that are not whole JSON, as a write cut short leaves`;
    }
  }

  result(): BuildResult | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, 'result.json'), 'utf8')) as BuildResult;
    } catch {
      return null;
    }
  }

  request(): Request | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, 'request.json'), 'utf8')) as Request;
    } catch {
      return null;
    }
  }
}
