import fs from 'node:fs';
import nodemailer from 'nodemailer';
import type { MailConfig } from '../config/types.js';
import { PocketbuildError, errorLine } from '../util/errors.js';
import type { EventMail } from './email-message.js';

export class MailNotSent extends PocketbuildError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('MailNotSent', message, data);
  }
}

/** What the server said it took. */
export interface SentMail {
  messageId: string;
  accepted: string[];
  rejected: string[];
}

/**
 * Send one message over SMTP as `mail` says, within mail.timeout_seconds all told (each
 * socket step is bounded too, so a server that accepts and then says nothing cannot hold
 * the hook until the hook runner kills it without a word).
 */
export async function sendEventMail(
  mail: MailConfig & { smtp_host: string },
  to: string[],
  msg: EventMail,
): Promise<SentMail> {
  const limitMs = mail.timeout_seconds * 1000;
  const transport = nodemailer.createTransport({
    host: mail.smtp_host,
    port: mail.smtp_port,
    secure: mail.tls === 'tls',
    requireTLS: mail.tls === 'starttls',
    ignoreTLS: mail.tls === 'none',
    auth: mail.auth_user === null ? undefined : { user: mail.auth_user, pass: readPassword(mail.auth_password_file!) },
    connectionTimeout: limitMs,
    greetingTimeout: limitMs,
    socketTimeout: limitMs,
  });
  let timer: NodeJS.Timeout | undefined;
  const overall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${mail.timeout_seconds}s`)), limitMs);
  });
  try {
    const info = await Promise.race([
      transport.sendMail({ from: mail.from, to, subject: msg.subject, text: msg.text, headers: msg.headers }),
      overall,
    ]);
    return { messageId: info.messageId, accepted: info.accepted.map(String), rejected: info.rejected.map(String) };
  } catch (e) {
    if (e instanceof PocketbuildError) throw e;
    throw new MailNotSent(
      `mail to ${to.join(', ')} via ${mail.smtp_host}:${mail.smtp_port} (tls: ${mail.tls}) was not sent: ${errorLine(e)}; check the mail section of the config and the server.`,
      { host: mail.smtp_host, port: mail.smtp_port },
    );
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}

function readPassword(file: string): string {
  try {
    return (fs.readFileSync(file, 'utf8').split('\n')[0] ?? '').replace(/\r$/, '');
  } catch (e) {
    throw new MailNotSent(
      `cannot read the SMTP password file ${file} (mail.auth_password_file): ${errorLine(e)}; it must be readable by the user the daemon runs as.`,
      { file },
    );
  }
}
