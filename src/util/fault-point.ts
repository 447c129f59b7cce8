/**
 * Named places where the fault campaign (docs/faults.md) kills the process as a power cut or
 * the OOM killer would: `POCKETBUILD_FAULT=<point>` in a daemon's environment makes it SIGKILL
 * itself the first time it reaches that point. Unset (always, in production), a point costs a
 * lookup. The list is closed so that a test naming a point that no code reaches fails at once.
 */
export const FAULT_POINTS = [
  'queue:after-claim',
  'after:validate',
  'after:collect',
  'after:attest',
  'after:export',
  'after:base',
  'after:deps',
  'after:build',
  'after:check',
  'after:provenance',
  'handoff:after-journal',
  'publish:before-include',
  'publish:after-include',
  'after:publish',
  'refs:after-branch',
  'after:refs',
  'finish:after-result',
  'finish:after-audit',
  'hooks:during',
  'audit:torn-write',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

export function isFaultPoint(name: string): name is FaultPoint {
  return (FAULT_POINTS as readonly string[]).includes(name);
}

/** Whether the process is set to die at `point`. */
export function faultArmed(point: FaultPoint): boolean {
  return process.env.POCKETBUILD_FAULT === point;
}

/** Die here, without cleanup, if the process is set to. */
export function faultPoint(point: FaultPoint): void {
  if (faultArmed(point)) die();
}

export function die(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered before the kill() syscall returns to this thread; never reached.
  throw new Error('SIGKILL did not stop the process');
}
