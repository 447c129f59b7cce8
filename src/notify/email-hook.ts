/**
 * The shipped e-mail hook (hooks/50-email runs this file): one message per build event to the
 * pocket's notify addresses and to mail.audit_to, carrying the audit log's signed checkpoint
 * off the machine (README.md, "Audit log"). It follows the hook contract: the event as
 * JSON on stdin, the config named by $POCKETBUILD_CONFIG; what it did goes to stdout (the
 * build log), and a failure is a non-zero exit that the daemon logs and ignores.
 */
import { findConfigFile, loadConfig } from '../config/load.js';
import { errorLine, isPocketbuildError } from '../util/errors.js';
import { composeEventMail, parseHookEvent, recipients } from './email-message.js';
import { sendEventMail } from './email-send.js';

async function main(): Promise<number> {
  const config = loadConfig(findConfigFile());
  const mail = config.mail;
  if (mail.smtp_host === null) {
    process.stdout.write('mail: not configured (mail.smtp_host is null)\n');
    return 0;
  }
  const event = parseHookEvent(await readStdin());
  const to = recipients(config, event);
  if (to.length === 0) {
    process.stdout.write(
      `mail: nobody to tell about ${event.event} of ${event.request.id} (pockets.${event.request.pocket}.notify and mail.audit_to are empty)\n`,
    );
    return 0;
  }
  const sent = await sendEventMail({ ...mail, smtp_host: mail.smtp_host }, to, composeEventMail(event));
  process.stdout.write(
    `mail: ${event.event} of ${event.request.id} sent to ${sent.accepted.join(', ') || 'nobody'} (${sent.messageId})\n`,
  );
  if (sent.rejected.length) {
    process.stdout.write(`mail: the server refused ${sent.rejected.join(', ')}\n`);
    return 1;
  }
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`mail: ${isPocketbuildError(e) ? e.message : `internal error: ${errorLine(e)}`}\n`);
    process.exitCode = 1;
  },
);
