import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { run } from '../util/run.js';
import type { FinalStatus } from '../record/build-record.js';

/** Events hooks are run for. When changing this, update README.md ("Hooks"). */
/** `promoted`: a promotion that succeeded (its status is `succeeded`). */
export type HookEvent = 'submitted' | 'started' | FinalStatus | 'promoted';

/** Every event hooks are run for, in the order a request meets them (README "Hooks" lists them). */
export const HOOK_EVENTS: readonly HookEvent[] = [
  'submitted',
  'started',
  'succeeded',
  'promoted',
  'failed',
  'denied',
  'timeout',
  'cancelled',
];

/** A build's status at an event: queued when submitted, running once started, then how it ended. */
export function statusAt(event: string, result?: { status: string }): string {
  return result?.status ?? (event === 'submitted' ? 'queued' : event === 'started' ? 'running' : event);
}

export interface HookOutcome {
  hook: string;
  ok: boolean;
  how: string;
}

export interface RunHooksOptions {
  hooksDir: string;
  event: HookEvent;
  /** Sent as JSON on stdin. */
  payload: Record<string, unknown>;
  /** Exposed as POCKETBUILD_<KEY> (upper-cased) in the hook's environment. */
  vars: Record<string, string>;
  timeoutMs: number;
  log?: Writable;
  /** Hooks not to run (they ran for this event before the daemon was killed). */
  skip?: ReadonlySet<string>;
  /** Told as each hook starts. */
  onStarted?: (hook: string) => void;
  /** Told as each hook ends, before the next starts. */
  onEnded?: (o: HookOutcome) => Promise<void>;
}

/** run-parts' rule for names, so editor backups and `.disabled` files are never run. */
const HOOK_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Run every executable in hooks_dir, in name order, once for the event. A hook that fails
 * or hangs is logged and killed after the timeout; it never changes the build's outcome.
 */
export async function runHooks(o: RunHooksOptions): Promise<HookOutcome[]> {
  let names: string[];
  try {
    names = fs
      .readdirSync(o.hooksDir)
      .filter((n) => HOOK_NAME.test(n))
      .sort();
  } catch {
    return [];
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    LANG: 'C.UTF-8',
    POCKETBUILD_EVENT: o.event,
  };
  for (const [k, v] of Object.entries(o.vars)) env[`POCKETBUILD_${k.toUpperCase()}`] = v;
  const input = JSON.stringify({ event: o.event, ...o.payload }) + '\n';
  const outcomes: HookOutcome[] = [];
  for (const name of names) {
    const file = path.join(o.hooksDir, name);
    try {
      const st = fs.statSync(file);
      if (!st.isFile() || (st.mode & 0o111) === 0) continue;
    } catch {
      continue;
    }
    if (o.skip?.has(name)) {
      o.log?.write(`hook ${name} (${o.event}): ran before the daemon stopped\n`);
      continue;
    }
    o.log?.write(`hook ${name} (${o.event}): running\n`);
    const running = run([file], { env, input, timeoutMs: o.timeoutMs, graceMs: 2000, log: o.log, capture: false });
    o.onStarted?.(name);
    const r = await running;
    const ok = r.code === 0;
    o.log?.write(
      `hook ${name} (${o.event}): ${r.how}${ok ? '' : " (ignored: hooks never change a build's outcome)"}\n`,
    );
    const outcome = { hook: name, ok, how: r.how };
    outcomes.push(outcome);
    await o.onEnded?.(outcome);
  }
  return outcomes;
}
