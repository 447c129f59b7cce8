import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { PocketbuildError } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Wall-clock limit; the whole process group gets SIGTERM, then SIGKILL after `graceMs`. */
  timeoutMs: number;
  /** @defaultValue 5000 */
  graceMs?: number;
  /** Text written to stdin, which is otherwise /dev/null. */
  input?: string | Buffer;
  /** Where stdout and stderr go as they arrive (a build log). Captured in the result too unless `capture` is false. */
  log?: Writable;
  /** @defaultValue true */
  capture?: boolean;
  /** Abort (e.g. a cancelled build): treated like a timeout, reported as cancelled. */
  signal?: AbortSignal;
  /**
   * Kill the child if this process dies, even by SIGKILL (prctl PR_SET_PDEATHSIG through
   * setpriv), so a restarted daemon never races an orphaned build of the same request.
   * @defaultValue true
   */
  dieWithParent?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** How the process ended, in words: "exited with status 2", "killed by SIGKILL after the 30s limit". */
  how: string;
  timedOut: boolean;
  cancelled: boolean;
}

/** Keep only the tail of huge outputs in memory; the log has everything. */
const CAPTURE_LIMIT = 4 * 1024 * 1024;

/**
 * Run a program from an argv array (never a shell), in its own process group with stdin
 * closed or fed, bounded in time. Always resolves once the child is reaped; never throws
 * for a non-zero exit (see `runChecked`).
 */
export function run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  if (!argv.length) throw new Error('run: empty argv');
  const full = opts.dieWithParent === false ? [...argv] : ['setpriv', '--pdeathsig', 'KILL', '--', ...argv];
  const file = full[0]!;
  const args = full.slice(1);
  const grace = opts.graceMs ?? 5000;
  const capture = opts.capture ?? true;
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout can kill every descendant
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), grace);
      killTimer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();

    const collect = (which: 'out' | 'err') => (chunk: Buffer) => {
      opts.log?.write(chunk);
      if (!capture) return;
      const s = chunk.toString('utf8');
      if (which === 'out') stdout = (stdout + s).slice(-CAPTURE_LIMIT);
      else stderr = (stderr + s).slice(-CAPTURE_LIMIT);
    };
    child.stdout?.on('data', collect('out'));
    child.stderr?.on('data', collect('err'));
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        /* the child may exit without reading its input; that is its business */
      });
      child.stdin.end(opts.input);
    }
    let spawnError: Error | undefined;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      // Descendants that left the group's leader behind still die with the group.
      if (code !== null || signal !== null) killGroup('SIGKILL');
      let how: string;
      if (spawnError) how = `could not be started: ${spawnError.message}`;
      else if (timedOut) how = `killed by ${signal ?? 'SIGTERM'} after the ${formatMs(opts.timeoutMs)} limit`;
      else if (cancelled) how = `cancelled (killed by ${signal ?? 'SIGTERM'})`;
      else if (signal) how = `killed by ${signal}`;
      else how = `exited with status ${code}`;
      resolve({ code: spawnError ? 127 : code, signal, stdout, stderr, how, timedOut, cancelled });
    });
  });
}

export class CommandFailed extends PocketbuildError {
  constructor(argv: readonly string[], result: RunResult, what?: string) {
    const tail = lastLines(result.stderr || result.stdout, 3);
    super('CommandFailed', `${what ?? argv[0]} ${result.how}${tail ? `: ${tail}` : ''}`, {
      argv: [...argv],
      code: result.code,
      signal: result.signal,
      stderr: result.stderr.slice(-4000),
    });
  }
}

/** Like `run`, but a non-zero exit, a signal or a timeout throws CommandFailed. */
export async function runChecked(argv: readonly string[], opts: RunOptions & { what?: string }): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new CommandFailed(argv, r, opts.what);
  return r;
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' | ');
}
