/** What can be asked of the ACLs, and the answer. */

export type Right =
  /** Submit a build into a pocket: pockets.<pocket>.acl, plus what its acl_command prints. */
  | { kind: 'build'; pocket: string }
  /** git push to <package>.git: repos.<package>.push, else repo_defaults.push. */
  | { kind: 'push'; package: string }
  /** git fetch/clone of <package>.git: its read list, or its push list (pushing implies reading). */
  | { kind: 'read'; package: string }
  /** Cancel anyone's request: admins. It is not a right to build into any pocket. */
  | { kind: 'admin' };

/** `reason` is one whole sentence, allowed or not: shown to the user and written to the audit log. */
export interface Decision {
  allowed: boolean;
  reason: string;
}

/** The right as a verb phrase that follows "alice may" / "alice may not"; names are already checked. */
export function rightPhrase(right: Right): string {
  switch (right.kind) {
    case 'build':
      return `build into ${right.pocket}`;
    case 'push':
      return `push to ${right.package}`;
    case 'read':
      return `read ${right.package}`;
    case 'admin':
      return "cancel other principals' requests";
  }
}
