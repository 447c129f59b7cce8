import type { Config } from '../config/types.js';
import { buildStatus, collectStatus, type StatusRow } from '../record/status-view.js';

/** Human-readable table of builds, fixed columns so it greps well. */
export function formatRows(rows: StatusRow[]): string {
  if (!rows.length) return '  (none)\n';
  return (
    rows
      .map(
        (r) =>
          `  ${r.id}  ${r.status.padEnd(9)}  ${r.pocket.padEnd(10)} ${r.package.padEnd(20)} ${r.commit.slice(0, 12)}  ${(r.version ?? '').padEnd(14)} ${r.principal}${r.promoted_from ? `  (promoted from ${r.promoted_from})` : ''}${r.reason ? `\n      ${r.code ? `${r.code}: ` : ''}${r.reason}` : ''}`,
      )
      .join('\n') + '\n'
  );
}

/**
 * What `status [ID]` says, for the CLI and over SSH alike: the JSON document and the text.
 * Null when ID names no build or request. `logFile` is for local callers only (a server path).
 */
export async function statusReport(
  config: Config,
  id?: string,
): Promise<{ json: unknown; text: string; logFile?: string } | null> {
  if (id) {
    const s = await buildStatus(config, id);
    if (!s) return null;
    return { json: { ...s.row, result: s.result }, text: formatRows([s.row]), logFile: s.logFile };
  }
  const st = await collectStatus(config);
  return { json: st, text: `queued and running:\n${formatRows(st.active)}recent:\n${formatRows(st.recent)}` };
}
