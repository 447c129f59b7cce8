/**
 * A name we could not trust, as it appears in a reason: JSON-quoted so control characters and
 * newlines cannot break the one-line message (or forge a second one), and cut when long.
 */
export function quoted(s: string): string {
  const q = JSON.stringify(s);
  return q.length > 60 ? `${q.slice(0, 56)}..."` : q;
}
