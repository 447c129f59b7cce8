/**
 * Every error a user can see is a PocketbuildError: a stable `code` (the class name, also
 * used on disk and in --json output), details in `data`, and a message that is one whole
 * sentence saying what was wrong and what to do about it.
 */
export class PocketbuildError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;
  /** The exit code the CLI uses when this error ends a command (see src/cli/exit-codes.ts). */
  readonly exitCode: number;

  constructor(code: string, message: string, data: Record<string, unknown> = {}, exitCode = 1) {
    super(message);
    this.name = code;
    this.code = code;
    this.data = data;
    this.exitCode = exitCode;
  }
}

/** Exit codes shared by every subcommand; documented in README.md ("Exit codes"). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  denied: 3,
  notFound: 4,
  conflict: 5,
  config: 6,
  internal: 70,
} as const;

export class UsageError extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('UsageError', message, data, ExitCode.usage);
  }
}

export class ConfigError extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('ConfigError', message, data, ExitCode.config);
  }
}

export class NotFoundError extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('NotFoundError', message, data, ExitCode.notFound);
  }
}

/** A request that was valid in form but may not proceed (not fast-forward, version not newer...). */
export class RefusedError extends PocketbuildError {
  constructor(code: string, message: string, data: Record<string, unknown> = {}) {
    super(code, message, data, ExitCode.conflict);
  }
}

export function isPocketbuildError(e: unknown): e is PocketbuildError {
  return e instanceof PocketbuildError;
}

/** The one-line text of any thrown value, for logs and stderr. */
export function errorLine(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.message;
  return String(e).split('\n')[0] ?? String(e);
}
