import type { RunResult } from '../util/run.js';
import type { SandboxOptions } from './options.js';
import { runInUsernsSandbox } from './userns.js';
import { runInVmSandbox, vmSandboxProblem } from './vm/index.js';

export type { SandboxOptions, Bind } from './options.js';

/** The isolation a pocket asks for (`pockets.NAME.sandbox`). */
export type SandboxBackend = 'userns' | 'vm';

/**
 * Run one build command in the backend the pocket names. Every backend takes the same
 * inputs (a pristine base, read-only inputs, one writable output directory) and gives the
 * same result, so what happens before and after the build does not care which ran it.
 */
export async function runSandbox(backend: SandboxBackend, o: SandboxOptions): Promise<RunResult> {
  switch (backend) {
    case 'userns':
      return runInUsernsSandbox(o);
    case 'vm':
      return runInVmSandbox(o);
  }
}

/** Why `backend` cannot run on this host (a sentence saying what to install), or undefined if it can. */
export function sandboxProblem(backend: SandboxBackend): string | undefined {
  return backend === 'vm' ? vmSandboxProblem() : undefined;
}
