/**
 * What of the repository directory (`<state_dir>/apt`) clients may read, as README "State
 * layout" lists it: the indices, the pool, the keys they put in Signed-By or give to
 * `pocketbuild verify`, and the published provenance. reprepro's own conf/ and db/, the
 * signing hook and any temporary file are not on this list, and whatever else appears in the
 * directory later stays private until it is added here.
 */

/** Folders served with everything under them. */
const PUBLIC_FOLDERS = new Set(['dists', 'pool', 'provenance']);
/** Single files at the top. */
const PUBLIC_FILES = new Set(['key.gpg', 'key.asc', 'builder.pub']);

/**
 * Whether `relative` (slash-separated, relative to the repository directory, with or without
 * a leading slash) names something clients may read. Only canonical paths pass: no empty,
 * `.` or `..` segment, no segment starting with a dot (temporary files), no backslash or
 * control character, so a path that is allowed here is the path that is opened.
 */
export function isPublishedPath(relative: string): boolean {
  const rel = relative.startsWith('/') ? relative.slice(1) : relative;
  if (rel === '' || /[\\\x00-\x1f\x7f]/.test(rel)) return false;
  const segments = rel.split('/');
  if (segments.some((s) => s === '' || s.startsWith('.'))) return false;
  if (segments.length === 1) return PUBLIC_FILES.has(segments[0]!);
  return PUBLIC_FOLDERS.has(segments[0]!);
}
