import type { Origin } from '../queue/request.js';
import type { FinalStatus, OutcomeCode } from '../util/outcomes.js';
import type { OutputFile } from './build-record.js';

/**
 * The one place an audit entry's `data` is defined: each type's shape here, and what it means
 * in AUDIT_ENTRIES below, from which README.md's "Audit log" table is made (a unit test keeps
 * the two equal). AuditLog.append takes only data that matches its type, so every writer of a
 * type writes the same shape.
 *
 * This module imports types only, so any module that writes the log may import it.
 */

/** What every way in records of a request, whether it was accepted or refused. */
export interface RequestFields {
  /** The local CLI, an SSH command, or an auto_build rule run by a git push. */
  origin: Origin;
  /** Exactly what was typed (the CLI's arguments joined by spaces); absent for a push. */
  raw?: string;
  /**
   * SSH only. Spelled out rather than imported: the ways in sit above record/ in the layering,
   * and the compiler still checks the SSH commands' own type against it where they write it.
   */
  transport?: 'openssh' | 'embedded';
  pocket?: string;
  package?: string;
  /** The full commit id, once resolved; what was typed for it is in `raw`. */
  commit?: string;
  /** The pushed branch an auto_build rule matched. */
  branch?: string;
}

export interface RequestAccepted extends RequestFields {
  /** `submit` for the CLI and pushes; the SSH command's verb. */
  verb: string;
  /** Where a cancelled request was: waiting (a daemon ends it unbuilt) or running (its daemon stops it). */
  state?: 'queued' | 'running';
  /** git-upload-pack and git-receive-pack: git's exit code. */
  git_exit?: number;
  /** A request of a batch: the requests whose publication it waits for (dep-wait). */
  after_builds?: string[];
  /** `promote`: the pocket it promotes from. */
  promote_from?: string;
  /** `promote`: the version promoted; `remove`: the version withdrawn. */
  version?: string;
}

export interface RequestRefused extends RequestFields {
  /** `promote`: the pocket it would have promoted from. */
  promote_from?: string;
  /** Null when the command did not parse, so there is no verb to name. */
  verb: string | null;
  code: OutcomeCode;
  /** One sentence: the refusal as the requester saw it. */
  reason: string;
  /**
   * The request was logged as accepted and then could not be queued; the entry's `build` is
   * its id. Both entries stay, since the chain cannot take one back.
   */
  after?: 'request.accepted';
}

export interface BuildClaimed {
  pocket: string;
  package: string;
  commit: string;
  principal: string;
  pid: number;
}

export interface BuildStage {
  kind: 'build' | 'rebuild';
  stage: string;
  ms: number;
}

export interface BuildFinished {
  status: FinalStatus;
  code: OutcomeCode | null;
  reason: string | null;
  version: string | null;
  outputs: OutputFile[];
  /** sha256 of the provenance envelope, when the build made one. */
  provenance: string | null;
}

export interface Publish {
  pocket: string;
  suite: string;
  package: string;
  version: string;
  outputs: OutputFile[];
  /** A promotion: the pocket it was published from. */
  promoted_from?: string;
  /** A promotion: the build that made the files. */
  build_of?: string;
}

export interface RefMoved {
  package: string;
  ref: string;
  from: string | null;
  /** Null: the branch was deleted (its pocket no longer publishes the package). */
  to: string | null;
}

export interface HookRun {
  /** notify/'s HookEvent, spelled out for the same layering reason as `transport`. */
  event: 'submitted' | 'started' | FinalStatus | 'promoted';
  hook: string;
  ok: boolean;
  how: string;
}

export interface GitPushAccepted {
  package: string;
  updates: Array<{ ref: string; old: string; new: string }>;
}

export interface GitPushRefused {
  package: string;
  refs: string[];
  code: OutcomeCode;
  reason: string;
}

export interface Cancel {
  state: 'queued' | 'running';
}

export interface Rebuild {
  reproduced: boolean;
  dir: string;
  differ: string[];
}

export interface AuditRepaired {
  /** How many bytes of a torn last line (a writer killed mid-append) were cut off. */
  dropped_bytes: number;
  /** Their sha256, so what was cut can be matched against a copy. */
  dropped_sha256: string;
}

export interface UserChanged {
  /** The principal whose keys changed. */
  principal: string;
  /** The SHA256 fingerprints of the keys added or removed. */
  keys: string[];
}

/** Every type of entry, and the shape of its `data`. */
export interface AuditEntries {
  'request.accepted': RequestAccepted;
  'request.refused': RequestRefused;
  'build.claimed': BuildClaimed;
  'build.stage': BuildStage;
  'build.finished': BuildFinished;
  publish: Publish;
  'ref.moved': RefMoved;
  hook: HookRun;
  'git.push.accepted': GitPushAccepted;
  'git.push.refused': GitPushRefused;
  cancel: Cancel;
  rebuild: Rebuild;
  'audit.repaired': AuditRepaired;
  'user.added': UserChanged;
  'user.removed': UserChanged;
}

export type AuditType = keyof AuditEntries;

interface Optional {
  readonly optional: true;
  readonly doc: string;
}

const optional = (doc: string): Optional => ({ optional: true, doc });

/** Each field of D, optional ones marked so: a field added to a shape must be documented, and only fields it has can be. */
type FieldDocs<D> = { readonly [K in keyof D]-?: object extends Pick<D, K> ? Optional : string };

interface TypeDoc<T extends AuditType> {
  readonly when: string;
  readonly data: FieldDocs<AuditEntries[T]>;
}

// A shared name, not a literal at each `code:`, also keeps the outcome catalogue's test (which
// reads every literal given to a `code` field as an outcome code) from taking it for one.
const CODE = 'the outcome code';
const ORIGIN = '`cli`, `ssh` or `push` (an auto_build rule)';
const REQUEST_FIELDS: FieldDocs<Omit<RequestFields, 'origin'>> = {
  raw: optional('exactly what was typed (not for a push)'),
  transport: optional('`openssh` or `embedded` (SSH only)'),
  pocket: optional('the pocket'),
  package: optional('the package'),
  commit: optional('the full commit id, once resolved'),
  branch: optional('the pushed branch (push only)'),
};

export const AUDIT_ENTRIES: { readonly [T in AuditType]: TypeDoc<T> } = {
  'request.accepted': {
    when: 'a request was taken: a CLI submit, any SSH command, a build an auto_build rule queued on a push (logged before it is queued)',
    data: {
      origin: ORIGIN,
      verb: '`submit`, or the SSH verb',
      ...REQUEST_FIELDS,
      state: optional('`queued` or `running`: where the cancelled request was (cancel)'),
      git_exit: optional("git's exit code (git-upload-pack, git-receive-pack)"),
      after_builds: optional('a request of a batch: the ids of the requests whose publication it waits for'),
      promote_from: optional('`promote`: the pocket it promotes from'),
      version: optional('`promote`: the version promoted; `remove`: the version withdrawn'),
    },
  },
  'request.refused': {
    when: 'a request was refused, by whichever way in',
    data: {
      origin: ORIGIN,
      verb: '`submit`, the SSH verb, or null when the command did not parse',
      ...REQUEST_FIELDS,
      code: CODE,
      reason: 'one sentence',
      after: optional('`request.accepted` when the request was logged as accepted but could not be queued'),
      promote_from: optional('`promote`: the pocket it would have promoted from'),
    },
  },
  'build.claimed': {
    when: 'a daemon took a request from the queue',
    data: {
      pocket: 'the pocket',
      package: 'the package',
      commit: 'the commit id',
      principal: 'the submitter',
      pid: "the daemon's process id",
    },
  },
  'build.stage': {
    when: 'a step of a build or rebuild finished',
    data: { kind: '`build` or `rebuild`', stage: "the step's name", ms: 'how long it took' },
  },
  'build.finished': {
    when: 'a request ended, however it ended',
    data: {
      status: 'the final status',
      code: `${CODE}, or null`,
      reason: 'one sentence, or null',
      version: 'the version built, or null',
      outputs: 'the output files (`file`, `size`, `sha256`)',
      provenance: "the provenance envelope's sha256, or null",
    },
  },
  publish: {
    when: 'the outputs were included in the APT repository (built, or promoted from another pocket)',
    data: {
      pocket: 'the pocket',
      suite: 'its suite',
      package: 'the package',
      version: 'the version',
      outputs: 'the output files',
      promoted_from: optional('a promotion: the pocket the files were published from'),
      build_of: optional('a promotion: the build that made them'),
    },
  },
  'ref.moved': {
    when: "the builder moved a pocket branch or made a pocket tag, or an admin's `remove` deleted a pocket branch",
    data: {
      package: 'the package',
      ref: 'the full ref name',
      from: 'the old commit, or null',
      to: 'the new commit, or null when the branch was deleted (`remove`)',
    },
  },
  hook: {
    when: 'a hook ran for a build event',
    data: {
      event: 'the event',
      hook: "the hook's file name",
      ok: 'whether it succeeded',
      how: 'how it ended',
    },
  },
  'git.push.accepted': {
    when: 'a push to a package repository was taken',
    data: { package: 'the package', updates: 'the refs updated (`ref`, `old`, `new`)' },
  },
  'git.push.refused': {
    when: 'a push touched pocket branches or tags, which only the builder moves',
    data: { package: 'the package', refs: 'the refs refused', code: CODE, reason: 'one sentence' },
  },
  cancel: {
    when: 'a request was cancelled (its `request.accepted` with verb `cancel` follows)',
    data: { state: '`queued` (a daemon ends it without building it) or `running` (its daemon stops it)' },
  },
  rebuild: {
    when: 'a rebuild compared its outputs with the original build',
    data: {
      reproduced: 'whether every output matched (or is one that always differs)',
      dir: "the rebuild's record",
      differ: 'the files that differ',
    },
  },
  'audit.repaired': {
    when: 'an append found the last line torn (its writer was killed mid-write) and cut it off first; the chain goes on from the last whole line',
    data: { dropped_bytes: 'how many bytes were cut', dropped_sha256: 'their sha256' },
  },
  'user.added': {
    when: '`pocketbuild user add` let a public key log in as a principal',
    data: { principal: 'the principal', keys: 'the SHA256 fingerprints of the keys added' },
  },
  'user.removed': {
    when: "`pocketbuild user remove` took a principal's keys away",
    data: { principal: 'the principal', keys: 'the SHA256 fingerprints of the keys removed' },
  },
};

/** README.md's "Audit log" table. */
export function auditTable(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = Object.entries(AUDIT_ENTRIES).map(([type, t]: [string, { when: string; data: object }]) => {
    const fields = Object.entries(t.data as Record<string, string | Optional>).map(([name, d]) =>
      typeof d === 'string' ? `\`${name}\`: ${d}` : `\`${name}\` (optional): ${d.doc}`,
    );
    return `| \`${type}\` | ${cell(t.when)} | ${cell(fields.join('; '))} |`;
  });
  return ['| type | when | data |', '| --- | --- | --- |', ...rows].join('\n') + '\n';
}
