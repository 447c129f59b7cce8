import fs from 'node:fs';
import {
  OUTCOMES,
  ExitCode,
  type CodeWithExit,
  type CodeWithStatus,
  type FinalStatus,
  type OutcomeCode,
} from './outcomes.js';

export { ExitCode, type OutcomeCode } from './outcomes.js';

/**
 * Every error a user can see is a PocketbuildError: a stable `code` (also used on disk, in
 * hooks and in --json output), details in `data`, and a message that is one whole sentence
 * saying what was wrong and what to do about it. The code is a key of OUTCOMES
 * (src/util/outcomes.ts), which also gives the exit code, so the two cannot disagree.
 */
export class PocketbuildError extends Error {
  readonly code: OutcomeCode;
  readonly data: Record<string, unknown>;
  /** The exit code the CLI uses when this error ends a command: the code's, from OUTCOMES. */
  readonly exitCode: number;

  constructor(code: OutcomeCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = code;
    this.code = code;
    this.data = data;
    this.exitCode = OUTCOMES[code].exit;
  }
}

export class UsageError extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('UsageError', message, data);
  }
}

export class ConfigError extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('ConfigError', message, data);
  }
}

export class NotFoundError extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('NotFoundError', message, data);
  }
}

/**
 * A pocket the configuration does not have. Submit, the ACL check and a build whose pocket was
 * removed after it was queued all end with this code, so a script need not know where it was found.
 */
export class UnknownPocket extends PocketbuildError {
  constructor(pocket: string, known: readonly string[]) {
    super('UnknownPocket', `unknown pocket ${pocket} (known: ${known.join(', ') || 'none'}).`, { pocket });
  }
}

/**
 * A package with no repository on this builder. Remote users see this message, so it names
 * no server path; creating a repository is an admin's command.
 */
export class UnknownPackage extends PocketbuildError {
  constructor(pkg: string) {
    super(
      'UnknownPackage',
      `unknown package ${pkg}: there is no repository ${pkg}.git on this builder; ask an admin to run "pocketbuild repo create ${pkg}", then push to it.`,
      { package: pkg },
    );
  }
}

/** A request that was valid in form but may not proceed (a finished build to cancel, a tag taken...): exit 5. */
export class ConflictError extends PocketbuildError {
  constructor(code: CodeWithExit<typeof ExitCode.conflict>, message: string, data: Record<string, unknown> = {}) {
    super(code, message, data);
  }
}

export function isPocketbuildError(e: unknown): e is PocketbuildError {
  return e instanceof PocketbuildError;
}

/** What a full disk looks like: Node's errno, or a host tool's own message. */
const NO_SPACE = /\bENOSPC\b|\bEDQUOT\b|No space left on device|Disk quota exceeded/;
/** Codes of failures of the builder's own tools, which a full disk explains when their output says so. */
const TOOL_FAILURES: ReadonlySet<OutcomeCode> = new Set(['CommandFailed', 'PublishFailed', 'AptFailed']);

/**
 * A thrown value as users see it: pocketbuild's own error; a full disk (however it was met:
 * a write of ours, or a host tool that could not write) as DiskFull; else null, a bug.
 */
export function asKnownError(e: unknown): PocketbuildError | null {
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  const full =
    errno === 'ENOSPC' ||
    errno === 'EDQUOT' ||
    (isPocketbuildError(e) &&
      TOOL_FAILURES.has(e.code) &&
      NO_SPACE.test(`${e.message}\n${String(e.data.stderr ?? '')}`));
  if (full) return diskFullError(e);
  return isPocketbuildError(e) ? e : null;
}

/** DiskFull, for whatever failed because the disk was full (`cause` is kept for the operator's log). */
export function diskFullError(cause: unknown): PocketbuildError {
  return new PocketbuildError(
    'DiskFull',
    'the builder is out of disk space, so this was not done and nothing was left half-done; try again once space is freed on the builder.',
    { cause: errorLine(cause) },
  );
}

/** Less free space than this on the state directory's file system counts as a full disk. */
const FULL_BYTES = 1024 * 1024;

/** Whether the file system `dir` is on has (next to) no space left. */
export function diskIsFull(dir: string): boolean {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize < FULL_BYTES;
  } catch {
    return false;
  }
}

/** The outcome code of any thrown value: a PocketbuildError's own, DiskFull for a full disk, else InternalError. */
export function outcomeCodeOf(e: unknown): OutcomeCode {
  return asKnownError(e)?.code ?? 'InternalError';
}

/** The one-line text of any thrown value, for logs and stderr. */
export function errorLine(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.message;
  return String(e).split('\n')[0] ?? String(e);
}

/** A refusal by policy, decided before anything is built: the build ends `denied` (only codes whose status is denied). */
export class Refused extends PocketbuildError {
  constructor(code: CodeWithStatus<'denied'>, message: string, data: Record<string, unknown> = {}) {
    super(code, message, data);
  }
}

/** A build that ended otherwise than it should: its status is its code's (failed, timeout or cancelled). */
export class BuildFailed extends PocketbuildError {
  readonly status: FinalStatus;

  constructor(message: string, code: CodeWithStatus<'failed' | 'timeout' | 'cancelled'> = 'BuildFailed') {
    super(code, message);
    this.status = OUTCOMES[code].status;
  }
}
