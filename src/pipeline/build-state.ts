import type { Writable } from 'node:stream';
import type { Config, PocketConfig } from '../config/types.js';
import type { Request } from '../queue/request.js';
import type { AuditLog } from '../record/audit-log.js';
import type { BuildRecord, StageTiming } from '../record/build-record.js';
import { LogLimitExceeded } from '../record/capped-log.js';
import type { AptRepository } from '../publish/reprepro.js';
import type { BaseImage } from '../steps/base-image.js';
import type { BuildVariables } from '../steps/build-in-sandbox.js';
import type { ResolvedDeb } from '../steps/build-deps.js';
import type { DepsLayer } from '../steps/deps-layer.js';
import type { CheckedOutputs } from '../steps/outputs.js';
import type { SourceIdentity } from '../steps/source-package.js';
import { BuildFailed, errorLine } from '../util/errors.js';
import type { PromotionSource } from './validate.js';

/** What every step of a build may use, the same for all builds of a daemon. */
export interface BuildEnvironment {
  config: Config;
  repo: AptRepository;
  audit: AuditLog;
  /** Cancellation or a lost claim. */
  signal: AbortSignal;
  /** The daemon's own terminal: one line as each stage starts and ends. */
  say?: (line: string) => void;
}

/** One build as it goes: each step reads what earlier steps made and adds its own. */
export interface BuildState {
  req: Request;
  pocket: PocketConfig;
  gitdir: string;
  record: BuildRecord;
  log: Writable;
  work: string;
  source?: SourceIdentity;
  base?: BaseImage;
  deps?: ResolvedDeb[];
  /** The cached dependency layer the build mounts, leased until the build ends. */
  layer?: DepsLayer;
  outputs?: CheckedOutputs;
  /** The pocket's other architectures, cross-built after the native build (its outputs are in `outputs`). */
  cross?: Array<{ arch: string; deps: ResolvedDeb[]; layer?: DepsLayer }>;
  /** A promotion: the build whose files it publishes, found by its validate step. */
  promotion?: PromotionSource & { version: string };
  /** What the build step ran dpkg-buildpackage with. */
  buildEnv?: BuildVariables;
  /** Parts of the build stage, from the sandbox script's marks (build.install, build.compile...). */
  substages: StageTiming[];
  /**
   * The journal was found damaged at resume: what it said is worked out again from the suite
   * and the audit log, and nothing already audited is audited twice.
   */
  recovered?: boolean;
  /** RFC 3339 UTC, when the build began (provenance startedOn). */
  started: string;
}

export type BuildStep = { name: string; run: (s: BuildState, env: BuildEnvironment) => Promise<void> };

/** A build stopped from outside the steps: by its own log's size (failed), else by a cancel. */
export function stopped(reason: unknown, when: string): BuildFailed {
  if (reason instanceof LogLimitExceeded) return new BuildFailed(`${reason.message} ${when}`, 'LogLimitExceeded');
  return new BuildFailed(`${errorLine(reason)}, ${when}`, 'BuildCancelled');
}
