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

/** The outcome code of any thrown value: a PocketbuildError's own, else InternalError. */
export function outcomeCodeOf(e: unknown): OutcomeCode {
  return isPocketbuildError(e) ? e.code : 'InternalError';
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
