/** The kind of object behind an id. */
export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** An object as stored: its type and uncompressed content. */
export interface RawObject {
  type: ObjectType;
  content: Buffer;
}

/**
 * How much one object read may cost. Anyone who can push can shape what is stored, and the
 * daemon reads it unattended, so nothing a repository says about sizes or deltas is trusted
 * beyond these.
 */
export interface ReadLimits {
  /** The largest object, or delta, that is inflated or rebuilt. */
  maxObjectBytes: number;
  /** The most deltas between an object and its full base. */
  maxDeltaDepth: number;
}

export const DEFAULT_READ_LIMITS: ReadLimits = {
  // Packages keep far smaller files in git; a larger one is rebuilt in memory whole, twice.
  maxObjectBytes: 1024 ** 3,
  // git's default pack.depth, also what `git gc --aggressive` uses since git 2.18.
  maxDeltaDepth: 50,
};

/**
 * Something wrong with the stored bytes of an object, found by code that does not know which
 * object the caller asked for; the object store turns it into a user-facing PocketbuildError
 * naming the repository and object. `kind` tells damage from a limit of {@link ReadLimits}.
 */
export class ObjectFault extends Error {
  constructor(
    readonly kind: 'damaged' | 'too-large' | 'too-deep',
    message: string,
  ) {
    super(message);
    this.name = 'ObjectFault';
  }
}

/** Bytes as people read them in messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${n} bytes`;
}
