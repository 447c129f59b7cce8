import type { StatusRow } from './status.js';

/** Human-readable table of builds, fixed columns so it greps well. */
export function formatRows(rows: StatusRow[]): string {
  if (!rows.length) return '  (none)\n';
  return rows
    .map((r) => `  ${r.id}  ${r.status.padEnd(9)}  ${r.pocket.padEnd(10)} ${r.package.padEnd(20)} ${r.commit.slice(0, 12)}  ${(r.version ?? '').padEnd(14)} ${r.principal}${r.reason ? `\n      ${r.code ? `${r.code}: ` : ''}${r.reason}` : ''}`)
    .join('\n') + '\n';
}
