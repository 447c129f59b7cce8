/** How a build ended. */
export const FINAL_STATUSES = ['succeeded', 'failed', 'cancelled', 'timeout', 'denied'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];
/** Where a request is: waiting, building, or how it ended. */
/** `dep-wait`: queued, and waiting for a request of its batch to be published. */
export type Status = 'queued' | 'dep-wait' | 'running' | FinalStatus;

/**
 * The one vocabulary of outcomes: every code a user can see (a PocketbuildError's `code`, a
 * build result's `code`, the `code` of a refusal in the audit log, POCKETBUILD_CODE in hooks)
 * is a key of OUTCOMES, and its entry says what it means everywhere: the build status it ends
 * a build with (when it can end one), the exit code of the CLI and SSH commands, the HTTP status
 * a JSON API answers, and whose fault it is. README.md ("Outcome codes") holds the table
 * outcomeTable() makes, and test/unit/outcomes.test.ts checks that it is current, that every
 * code in src/ has an entry here and every entry is used.
 *
 * This module imports nothing at run time, so every other module may import it.
 */

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

/**
 * Whose fault an outcome is: the requester's (a malformed, unauthorised or conflicting
 * request: HTTP 4xx), the package's (its source, repository or build: it ends the build
 * `failed` or `timeout`, HTTP 422), or the builder's (its configuration, host or a bug: 5xx).
 */
export type Blame = 'requester' | 'package' | 'builder';

export interface OutcomeEntry {
  /** The status a build ends with when this code ends it; absent when no build can end so. */
  readonly status?: Exclude<FinalStatus, 'succeeded'>;
  /** What the CLI and SSH commands exit with when this error ends them. */
  readonly exit: (typeof ExitCode)[Exclude<keyof typeof ExitCode, 'ok'>];
  /** The HTTP status a JSON API answers with. */
  readonly http: number;
  readonly blame: Blame;
  /** One sentence saying what the code means (the error's message says the particulars). */
  readonly summary: string;
}

export const OUTCOMES = {
  // The requester's fault: the request is malformed, unauthorised or conflicts with the state.
  UsageError: {
    exit: ExitCode.usage,
    http: 400,
    blame: 'requester',
    summary: 'The command, one of its arguments or a field of the request (pocket, package, principal) is malformed.',
  },
  UnknownPocket: {
    status: 'denied',
    exit: ExitCode.notFound,
    http: 404,
    blame: 'requester',
    summary:
      'The pocket the request names is not configured, found so at submit or, if it was removed meanwhile, at build time.',
  },
  UnknownPackage: {
    status: 'denied',
    exit: ExitCode.notFound,
    http: 404,
    blame: 'requester',
    summary:
      'The package the request names has no repository on the builder, found so at submit, git push or fetch or, if it was removed meanwhile, at build time.',
  },
  NotFoundError: {
    status: 'failed',
    exit: ExitCode.notFound,
    http: 404,
    blame: 'requester',
    summary: 'Something else the request names (a commit, a build or request, a file) does not exist.',
  },
  AccessDenied: {
    status: 'denied',
    exit: ExitCode.denied,
    http: 403,
    blame: 'requester',
    summary:
      'The ACL does not let the principal do this; a build whose submitter lost the right after submitting ends denied.',
  },
  AlreadyFinished: {
    exit: ExitCode.conflict,
    http: 409,
    blame: 'requester',
    summary: 'The request to cancel has already finished.',
  },
  RepositoryExists: {
    exit: ExitCode.conflict,
    http: 409,
    blame: 'requester',
    summary: 'A package repository of that name already exists.',
  },
  KeyTaken: {
    exit: ExitCode.conflict,
    http: 409,
    blame: 'requester',
    summary: 'The public key already logs in as another principal; a key belongs to one principal only.',
  },
  UserInConfig: {
    exit: ExitCode.conflict,
    http: 409,
    blame: 'requester',
    summary:
      "The principal's keys are listed under ssh.users in the configuration, which only an edit of that file changes.",
  },
  BatchCycle: {
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: 'A batch whose requests build-depend on each other in a circle cannot be ordered; nothing is queued.',
  },
  DependencyFailed: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: 'A request of the same batch that this one build-depends on did not succeed, so this one was not built.',
  },
  AmbiguousRevision: {
    exit: ExitCode.failure,
    http: 400,
    blame: 'requester',
    summary: 'A commit id prefix matches more than one object of the repository.',
  },
  BadRevision: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 400,
    blame: 'requester',
    summary: 'A revision is neither a full commit id nor a valid branch or tag name.',
  },
  BadRefName: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 400,
    blame: 'requester',
    summary: 'A branch or tag name is not a valid git ref name.',
  },
  NotACommit: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 400,
    blame: 'requester',
    summary: 'A revision names an object that is not a commit.',
  },
  NotRebuildable: {
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: 'Only a succeeded build with recorded inputs can be rebuilt.',
  },
  RunningAsRoot: {
    exit: ExitCode.usage,
    http: 400,
    blame: 'requester',
    summary: 'The daemon or SSH server was started as root, which pocketbuild refuses.',
  },
  NoPublicKey: {
    exit: ExitCode.failure,
    http: 400,
    blame: 'requester',
    summary: 'The builder public key given to verify cannot be read.',
  },
  BadPublicKey: {
    exit: ExitCode.failure,
    http: 400,
    blame: 'requester',
    summary: 'The builder public key given to verify is not an Ed25519 key in PEM form.',
  },
  BadHookInput: {
    exit: ExitCode.failure,
    http: 400,
    blame: 'requester',
    summary: 'A hook got something other than a pocketbuild hook event on stdin.',
  },
  // Policy refusals at build time, and conflicts with the repository's refs.
  NotFastForward: {
    status: 'denied',
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: "The commit does not descend from the pocket's branch, and the pocket does not allow backtracking.",
  },
  VersionOfOtherRelease: {
    status: 'denied',
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: 'The version is already published for another Debian release; each release needs its own version.',
  },
  PromotionNotAllowed: {
    status: 'denied',
    exit: ExitCode.denied,
    http: 403,
    blame: 'requester',
    summary: 'The pocket does not take promotions from the pocket named (its promote_from list).',
  },
  NotPublished: {
    status: 'denied',
    exit: ExitCode.notFound,
    http: 404,
    blame: 'requester',
    summary: 'The pocket does not publish the package, or publishes another version than the one named.',
  },
  PromotionAcrossReleases: {
    status: 'denied',
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary:
      'The two pockets build for different Debian releases; a build is promoted only between pockets of one release.',
  },
  PromotedFilesDiffer: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary:
      'A file to promote no longer has the sha256 its build recorded, or the target suite does not list it with that sha256; nothing was promoted.',
  },
  VersionNotNewer: {
    status: 'denied',
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: 'The version is not newer than the one the pocket already publishes.',
  },
  TagExists: {
    status: 'failed',
    exit: ExitCode.conflict,
    http: 409,
    blame: 'requester',
    summary: "The version's tag already exists and points at another commit.",
  },
  RefConflict: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: 'A branch or tag cannot be created because a ref with a clashing name exists.',
  },
  BuildCancelled: {
    status: 'cancelled',
    exit: ExitCode.failure,
    http: 409,
    blame: 'requester',
    summary: 'The build was cancelled, before it started or while it ran.',
  },
  // The package's fault: its source or repository cannot be built from, or its build failed.
  NotADebianSource: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The commit has no debian/changelog at the root of its tree.',
  },
  SourceNameMismatch: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'debian/changelog names another source package than the repository.',
  },
  InvalidChangelog: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'debian/changelog cannot be parsed.',
  },
  InvalidControl: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'debian/control cannot be parsed as deb822.',
  },
  InvalidVersion: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A version is not a valid Debian version.',
  },
  UnsupportedSourceFormat: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'debian/source/format names a format pocketbuild cannot build.',
  },
  NativeVersionWithRevision: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A 3.0 (native) package has a Debian revision in its version.',
  },
  NoUpstreamTarball: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A non-native package has neither a pristine-tar entry nor an upstream tag for its upstream version.',
  },
  UnusableUpstreamTarball: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The upstream tarball is in a compression the source format cannot use.',
  },
  BrokenPristineTar: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The pristine-tar branch is missing or has a damaged entry for the tarball.',
  },
  BadPristineTarName: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The pristine-tar branch has a tarball whose name cannot be used.',
  },
  UnsafePristineTarManifest: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A pristine-tar delta lists a path that would leave the tree or is otherwise unsafe.',
  },
  UnsafeTreeEntry: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The tree to export has an entry whose name or mode is unsafe to write.',
  },
  NotARegularFile: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A file pocketbuild reads from the commit is a symlink, directory or submodule.',
  },
  NotATree: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'An object the repository uses as a tree is not one.',
  },
  CorruptObject: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'An object of the package repository is missing or damaged.',
  },
  ObjectTooLarge: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: "An object of the package repository is over pocketbuild's size limit.",
  },
  PackTooLarge: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A pack file of the package repository is over 2 GiB.',
  },
  DeltaChainTooDeep: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'An object of the package repository is stored as a chain of too many deltas.',
  },
  BuildDepsUnsatisfiable: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The build-dependencies cannot be satisfied from the archive and the pocket.',
  },
  BuildFailed: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The build in the sandbox failed.',
  },
  DiskLimitExceeded: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The build filled its scratch disk (limits.disk_mb).',
  },
  ProcessLimitExceeded: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The build could not start more processes (limits.processes).',
  },
  CpuLimitExceeded: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A process of the build used up its CPU time (limits.cpu_seconds).',
  },
  MemoryLimitExceeded: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'A process of the build ran out of memory (limits.memory_mb).',
  },
  LogLimitExceeded: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The build log grew past limits.log_mb, so the build was stopped.',
  },
  BuildTimedOut: {
    status: 'timeout',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The build ran longer than limits.build_timeout_seconds.',
  },
  BadOutputs: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: 'The files the build produced are not a sound set of Debian outputs.',
  },
  BadVmOutput: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 422,
    blame: 'package',
    summary: "The VM's output stream was malformed, so the build's outputs were not taken.",
  },
  // The builder's fault: its configuration, its host or pocketbuild itself.
  ConfigError: {
    exit: ExitCode.config,
    http: 500,
    blame: 'builder',
    summary: 'The configuration file is missing or invalid.',
  },
  InternalError: {
    status: 'failed',
    exit: ExitCode.internal,
    http: 500,
    blame: 'builder',
    summary: 'pocketbuild failed unexpectedly; the log has the details.',
  },
  DiskFull: {
    exit: ExitCode.internal,
    http: 507,
    blame: 'builder',
    summary:
      "The builder's disk is full: a command is refused with nothing queued; a build it stops is not ended but stays queued, retried every 10 s, and nothing of it is published.",
  },
  CommandFailed: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A host tool pocketbuild ran failed, was killed or timed out.',
  },
  AptFailed: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 502,
    blame: 'builder',
    summary: 'apt-get could not read the archive or fetch the build-dependencies.',
  },
  SandboxUnavailable: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 503,
    blame: 'builder',
    summary: "The pocket's sandbox cannot run on this host.",
  },
  GuestKernelUnavailable: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 503,
    blame: 'builder',
    summary: "The vm sandbox's guest kernel cannot be prepared.",
  },
  VmBindsUnsupported: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'The vm sandbox was asked for directories it cannot pass in.',
  },
  VmBindNotDirectory: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'The vm sandbox was asked to pass in something other than a directory.',
  },
  VmJobTooLarge: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'The command or environment of the job cannot be passed into the VM.',
  },
  VmImageFailed: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A disk image for the VM could not be made.',
  },
  UnsafePath: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A state or cache path contains characters the sandbox or the git hooks cannot take.',
  },
  BadPath: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A path inside a repository has "." or ".." components.',
  },
  DestinationNotEmpty: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A tree was to be exported into a directory that is not empty.',
  },
  RefLocked: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 503,
    blame: 'builder',
    summary: 'A ref is being updated by another process.',
  },
  PublishFailed: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'reprepro could not publish to or read the APT repository.',
  },
  NoSigningKey: {
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'There is no usable key to sign the APT repository with.',
  },
  KeyCreationFailed: {
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'gpg did not make the signing key.',
  },
  NoBuilderKey: {
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: "The builder's Ed25519 key is missing.",
  },
  PinnedDebMissing: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A build-dependency a rebuild needs is no longer in the apt cache or the pool.',
  },
  BaseImageChanged: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'The cached base image is not the one the build to rebuild used.',
  },
  SourceChanged: {
    status: 'failed',
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'The commit of the build to rebuild now reads as another version than the build recorded.',
  },
  MailNotSent: {
    exit: ExitCode.failure,
    http: 502,
    blame: 'builder',
    summary: 'The mail server did not take a notification.',
  },
  SetupFailed: {
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A step of setting up the service user or its files failed.',
  },
  ListenFailed: {
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A server could not listen on its configured address and port.',
  },
  NoSubordinateIds: {
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: "The daemon's user has no /etc/subuid or /etc/subgid range for sandboxes.",
  },
  StateNotReady: {
    exit: ExitCode.failure,
    http: 500,
    blame: 'builder',
    summary: 'A builder host found no state prepared by the publishing daemon on the shared file system.',
  },
} as const satisfies Record<string, OutcomeEntry>;

/** Every outcome code: a string-literal union, so TypeScript rejects a code without an entry. */
export type OutcomeCode = keyof typeof OUTCOMES;

/** The codes that end a build with status S (`denied` for a Refused, …). */
export type CodeWithStatus<S extends FinalStatus> = {
  [C in OutcomeCode]: (typeof OUTCOMES)[C] extends { readonly status: S } ? C : never;
}[OutcomeCode];

/** The codes whose errors make the CLI exit with E. */
export type CodeWithExit<E extends number> = {
  [C in OutcomeCode]: (typeof OUTCOMES)[C] extends { readonly exit: E } ? C : never;
}[OutcomeCode];

/** A named subset of the codes, e.g. `OutcomeCodes<'DiskLimitExceeded' | 'CpuLimitExceeded'>`; a name not in OUTCOMES is an error. */
export type OutcomeCodes<C extends OutcomeCode> = C;

export function outcome(code: OutcomeCode): OutcomeEntry {
  return OUTCOMES[code];
}

/**
 * The "Outcome codes" table of README.md, made from OUTCOMES (test/unit/outcomes.test.ts
 * checks that README.md holds exactly this).
 */
export function outcomeTable(): string {
  const rows = (Object.entries(OUTCOMES) as Array<[OutcomeCode, OutcomeEntry]>).map(
    ([code, o]) =>
      `| \`${code}\` | ${o.status ? `\`${o.status}\`` : '–'} | ${o.exit} | ${o.http} | ${o.blame} | ${o.summary.replace(/\|/g, '\\|')} |`,
  );
  return (
    ['| code | status | exit | HTTP | fault | meaning |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n') +
    '\n'
  );
}
