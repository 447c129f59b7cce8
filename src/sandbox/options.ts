import type { Writable } from 'node:stream';

/** A host path made visible inside the sandbox. Nothing else of the host is. */
export interface Bind {
  host: string;
  inside: string;
  writable?: boolean;
}

export interface SandboxOptions {
  /** The pristine root (lower layer); never written: each run gets its own tmpfs upper layer. */
  base: string;
  /**
   * Read-only layers over the base, the topmost first: captured upper layers of earlier runs
   * (a cached set of installed build-dependencies). Only the userns backend takes them.
   */
  layers?: string[];
  /**
   * An empty host directory that receives this run's upper layer (its changes to the root,
   * with overlayfs' whiteouts and opaque-directory marks) once the command succeeded.
   */
  keepUpper?: string;
  /** An empty directory owned by the daemon user, the mount point of this run's scratch tmpfs. */
  scratch: string;
  binds: Bind[];
  /** argv run inside, as the namespace's (fake) root; it drops to the build uid itself. */
  argv: string[];
  env: Record<string, string>;
  limits: { timeoutMs: number; diskMb: number; processes: number; memoryMb: number; cpuSeconds: number };
  log: Writable;
  signal?: AbortSignal;
  /** <cache_dir>: where a backend may keep what it derives from the base (a VM disk image...). */
  cacheDir: string;
  /** sha256 of the base image, naming what is derived from it. */
  baseDigest: string;
}
