/**
 * Matching a principal against one static ACL list: principal names, `group:NAME`, or `*`
 * (every authenticated principal). The config loader has already refused undefined and
 * nested groups, so a group is exactly its list of principal names.
 */

/** The entry that lets `principal` in (the first one, in the list's order), or undefined. */
export function matchingEntry(
  groups: Readonly<Record<string, readonly string[]>>,
  principal: string,
  entries: readonly string[],
): string | undefined {
  return entries.find((entry) => {
    if (entry === '*') return true;
    if (entry.startsWith('group:')) {
      const name = entry.slice('group:'.length);
      // hasOwn, so an entry such as group:constructor can never reach Object.prototype.
      return Object.hasOwn(groups, name) && (groups[name] ?? []).includes(principal);
    }
    return entry === principal;
  });
}

/** A list for a message: "group:release, bob", or "nobody" when empty. */
export function listEntries(entries: readonly string[]): string {
  return entries.length ? [...new Set(entries)].join(', ') : 'nobody';
}
