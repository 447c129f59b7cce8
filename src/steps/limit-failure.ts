import type { OutcomeCodes } from '../util/outcomes.js';

/** A limit that ended a failed build, with the config key to raise if the build was legitimate. */
export interface LimitFailure {
  code: OutcomeCodes<'DiskLimitExceeded' | 'ProcessLimitExceeded' | 'MemoryLimitExceeded' | 'CpuLimitExceeded'>;
  message: string;
}

export interface SandboxLimits {
  disk_mb: number;
  processes: number;
  memory_mb: number;
  cpu_seconds: number;
}

/** Less free scratch space than this at the end counts as a full disk (tmpfs keeps a few blocks back). */
const FULL_DISK_KB = 1024;

/* The tail is all that matters, and it keeps a flooded log from costing seconds of regex work. */
const TAIL_CHARS = 64 * 1024;

/* What fork(2) and malloc(3) failures look like from the shells and runtimes in a build root. */
const FORK_FAILED =
  /fork: (retry: )?Resource temporarily unavailable|Cannot fork|fork failed|can't fork|vfork: Resource temporarily unavailable/i;
/* SIGXCPU (24) as shells, make and dpkg-buildpackage report it: by name, by number, or as a shell's exit status 128 + 24. */
const CPU_EXCEEDED =
  /CPU time limit exceeded|killed by signal 24\b|signal 24 \(SIGXCPU\)|\bError 152\b|exit (status|code) 152\b/;
const OUT_OF_MEMORY =
  /Cannot allocate memory|Out of memory!|std::bad_alloc|MemoryError|memory exhausted|out of memory/i;

/**
 * Which limit, if any, made a build in the sandbox fail. The disk and process counts come
 * from the sandbox script's own measurement on the way out (`pocketbuild-limits:`, its last
 * line of that kind); running out of processes is also recognised by fork's error, and
 * running out of memory only by the allocator's error, since RLIMIT_AS leaves no other
 * trace. The build writes the same output, so it can make its own failure look like a
 * limit's; that mislabels only its own failure.
 */
export function limitFailure(output: string, limits: SandboxLimits): LimitFailure | null {
  const tail = output.slice(-TAIL_CHARS);
  const reports = [...tail.matchAll(/^pocketbuild-limits: disk_kb=(\d+) disk_free_kb=(\d+) build_processes=(\d+)$/gm)];
  const last = reports[reports.length - 1];
  const freeKb = last ? Number(last[2]) : undefined;
  const processes = last ? Number(last[3]) : undefined;
  if (freeKb !== undefined && freeKb < FULL_DISK_KB) {
    return {
      code: 'DiskLimitExceeded',
      message: `the build filled its ${limits.disk_mb} MiB scratch disk (limits.disk_mb)`,
    };
  }
  if ((processes !== undefined && processes >= limits.processes * 0.9) || FORK_FAILED.test(tail)) {
    const held = processes !== undefined ? `, and held ${processes} at the end` : '';
    return {
      code: 'ProcessLimitExceeded',
      message: `the build could not start more processes: limits.processes is ${limits.processes}${held}`,
    };
  }
  if (CPU_EXCEEDED.test(tail)) {
    return {
      code: 'CpuLimitExceeded',
      message: `a process of the build used up its CPU time: limits.cpu_seconds is ${limits.cpu_seconds} s per process`,
    };
  }
  if (OUT_OF_MEMORY.test(tail)) {
    return {
      code: 'MemoryLimitExceeded',
      message: `a process of the build ran out of memory: limits.memory_mb is ${limits.memory_mb} MiB of address space per process`,
    };
  }
  return null;
}
