import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { AuditLog } from '../record/audit-log.js';
import { compareWithAnchors, checkpointsInMail } from '../record/audit-anchors.js';
import { verifyAuditLog } from '../record/audit-verify.js';
import { builderKeyFiles, loadBuilderKey, readPublicKey } from '../record/builder-key.js';
import { armorCheckpoint } from '../record/checkpoint-armor.js';
import { auditOrigin, signCheckpoint } from '../record/checkpoint.js';
import { parseMbox } from '../record/mbox.js';
import { ExitCode, NotFoundError } from '../util/errors.js';

export interface AuditVerifyOptions {
  /** The audit log; default <state_dir>/audit.log. */
  file?: string;
  /** A mailbox (mbox) holding mailed checkpoints to check the log against. */
  against?: string;
  /** The builder's public key (PEM); default <state_dir>/keys/builder.pub. */
  key?: string;
}

/**
 * `pocketbuild audit verify [--against MBOX [--key PUBFILE]] [FILE]`: check the whole hash
 * chain, naming the first bad entry; with --against, also check the log against every signed
 * checkpoint found in the mailbox. The config is read only for what is not given, so an
 * auditor with the log, the mailbox and builder.pub needs no installation of their own.
 */
export function runAuditVerify(config: () => Config, o: AuditVerifyOptions): number {
  const target = o.file ?? path.join(config().state_dir, 'audit.log');
  if (!fs.existsSync(target))
    throw new NotFoundError(`no audit log at ${target}; it is made by the first request or build.`, { file: target });
  if (o.against !== undefined && !fs.existsSync(o.against)) {
    throw new NotFoundError(`no mailbox at ${o.against}; give the mbox file that received the builder's mail.`, {
      file: o.against,
    });
  }
  let ok = true;
  const v = verifyAuditLog(target);
  if (v.ok) process.stdout.write(`audit log OK: ${v.entries} entries, chain head ${v.head}\n`);
  else {
    ok = false;
    process.stdout.write(
      `audit log BROKEN at line ${v.line}${v.seq === null ? '' : ` (seq ${v.seq})`}: ${v.problem}; the ${v.entries} entries before it verify.\n`,
    );
  }
  if (o.against !== undefined)
    ok = verifyAgainst(target, o.against, o.key ?? builderKeyFiles(config().state_dir).pub) && ok;
  return ok ? ExitCode.ok : ExitCode.failure;
}

function verifyAgainst(logFile: string, mbox: string, keyFile: string): boolean {
  if (!fs.existsSync(keyFile)) {
    throw new NotFoundError(`no public key at ${keyFile}; give the builder's builder.pub with --key.`, {
      file: keyFile,
    });
  }
  const publicKey = readPublicKey(keyFile);
  const messages = parseMbox(fs.readFileSync(mbox));
  // Only whole lines count: a torn last line was never covered by a checkpoint.
  const lines = fs.readFileSync(logFile, 'utf8').split('\n').slice(0, -1);
  const r = compareWithAnchors(lines, checkpointsInMail(messages), publicKey);
  for (const p of r.problems) process.stdout.write(`${p}\n`);
  if (r.found === 0) {
    process.stdout.write(
      `no checkpoint found in ${mbox} (${messages.length} messages): nothing to check the log against; is it the mailbox that gets the builder's mail?\n`,
    );
    return false;
  }
  const newest = r.newest ? `, the newest covering ${r.newest.checkpoint.size} entries` : '';
  const verdict = r.problems.length
    ? `${r.problems.length} problem(s)`
    : `the local log (${lines.length} entries) agrees with all of them`;
  process.stdout.write(
    `checked ${r.checked} signed checkpoint(s) from ${messages.length} message(s) in ${mbox} (${r.distinct} distinct${newest}): ${verdict}\n`,
  );
  return r.problems.length === 0;
}

/**
 * `pocketbuild audit checkpoint`: the audit log's current signed checkpoint between its
 * markers, for a cron job to mail as a heartbeat (the mailbox it lands in can then be given
 * to `audit verify --against`). Needs the builder's private key: run it as the daemon's user.
 */
export function runAuditCheckpoint(config: Config): number {
  const { size, head } = new AuditLog(config.state_dir).head();
  const text = signCheckpoint({ origin: auditOrigin(config.builder.id), size, head }, loadBuilderKey(config.state_dir));
  process.stdout.write(armorCheckpoint(text));
  return ExitCode.ok;
}
