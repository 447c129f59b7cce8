import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { verifyAuditLog } from '../record/audit-verify.js';
import { ExitCode, NotFoundError } from '../util/errors.js';

/** `pocketbuild audit verify [FILE]`: check the whole hash chain; the first bad entry is named. */
export function runAuditVerify(config: Config, file?: string): number {
  const target = file ?? path.join(config.state_dir, 'audit.log');
  if (!fs.existsSync(target)) throw new NotFoundError(`no audit log at ${target}; it is made by the first request or build.`, { file: target });
  const v = verifyAuditLog(target);
  if (v.ok) {
    process.stdout.write(`audit log OK: ${v.entries} entries, chain head ${v.head}\n`);
    return ExitCode.ok;
  }
  process.stdout.write(`audit log BROKEN at line ${v.line}${v.seq === null ? '' : ` (seq ${v.seq})`}: ${v.problem}; the ${v.entries} entries before it verify.\n`);
  return ExitCode.failure;
}
