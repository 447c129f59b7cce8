/**
 * Just enough of mbox (RFC 4155) and MIME (RFC 2045/2046) to get the text a person would read
 * out of every message in a mailbox file: `audit verify --against` looks for checkpoints there.
 * Pure: give it the file's bytes.
 */

export interface MailMessage {
  /** 1-based position in the mailbox. */
  index: number;
  /** The Date header, else the date on the "From " line; null when neither is there. */
  date: string | null;
  messageId: string | null;
  /** The decoded text of every text/* part, including those of attached (message/rfc822) mails. */
  texts: string[];
}

interface Entity {
  headers: Map<string, string>;
  /** Raw body as a binary string (one char per byte), lines joined with \n. */
  body: string;
}

/**
 * Split a mailbox into messages and decode each one's text parts. A message starts at a line
 * beginning "From " at the start of the file or after an empty line; ">From " lines (any
 * number of ">") lose one ">" (mboxrd, which also reads mboxo files right). A file that does
 * not start with "From " is taken to be one message (a saved .eml).
 */
export function parseMbox(data: Buffer | string): MailMessage[] {
  const text = typeof data === 'string' ? Buffer.from(data, 'utf8').toString('latin1') : data.toString('latin1');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[lines.length - 1] === '') lines.pop();
  const raw: Array<{ envelope: string | null; lines: string[] }> = [];
  let current: { envelope: string | null; lines: string[] } | null = null;
  // A single message is not escaped: a "From " line in its body starts nothing.
  const single = !lines[0]?.startsWith('From ');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!single && line.startsWith('From ') && (i === 0 || lines[i - 1] === '')) {
      current = { envelope: line, lines: [] };
      raw.push(current);
      continue;
    }
    if (!current) {
      current = { envelope: null, lines: [] };
      raw.push(current);
    }
    current.lines.push(!single && /^>+From /.test(line) ? line.slice(1) : line);
  }
  return raw.map((m, i) => {
    // The empty line before the next "From " belongs to the mailbox, not to the message.
    if (!single && m.lines[m.lines.length - 1] === '') m.lines.pop();
    const entity = parseEntity(m.lines);
    return {
      index: i + 1,
      date: headerText(entity.headers.get('date')) ?? envelopeDate(m.envelope),
      messageId: headerText(entity.headers.get('message-id')),
      texts: textParts(entity, 0),
    };
  });
}

function parseEntity(lines: string[]): Entity {
  const headers = new Map<string, string>();
  let i = 0;
  let last: string | null = null;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') {
      i++;
      break;
    }
    if (/^[ \t]/.test(line) && last !== null) {
      headers.set(last, `${headers.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    // The first of a repeated header wins: Received and the like do not matter here.
    if (!headers.has(last)) headers.set(last, line.slice(colon + 1).trim());
    else last = null;
  }
  return { headers, body: lines.slice(i).join('\n') };
}

/** Nesting bound: a mail that is attachments all the way down is not worth recursing into. */
const MAX_DEPTH = 8;

function textParts(e: Entity, depth: number): string[] {
  if (depth > MAX_DEPTH) return [];
  const { type, params } = contentType(e.headers.get('content-type'));
  if (type.startsWith('multipart/')) {
    const boundary = params.get('boundary');
    if (!boundary) return [];
    return splitMultipart(e.body, boundary).flatMap((part) => textParts(parseEntity(part), depth + 1));
  }
  if (type === 'message/rfc822') return textParts(parseEntity(decodeBody(e).toString('latin1').split('\n')), depth + 1);
  if (!type.startsWith('text/')) return [];
  return [decodeCharset(decodeBody(e), params.get('charset') ?? 'utf-8')];
}

function contentType(value: string | undefined): { type: string; params: Map<string, string> } {
  // No Content-Type means text/plain (RFC 2045 5.2).
  const [type = 'text/plain', ...rest] = (value ?? 'text/plain').split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const v = p.slice(eq + 1).trim();
    params.set(
      p.slice(0, eq).trim().toLowerCase(),
      v.startsWith('"') ? v.slice(1, v.endsWith('"') ? -1 : undefined).replace(/\\(.)/g, '$1') : v,
    );
  }
  return { type: type.trim().toLowerCase(), params };
}

/** The parts between "--boundary" lines, up to "--boundary--"; the preamble and epilogue are dropped. */
function splitMultipart(body: string, boundary: string): string[][] {
  const parts: string[][] = [];
  let current: string[] | null = null;
  for (const line of body.split('\n')) {
    const t = line.trimEnd();
    if (t === `--${boundary}--`) break;
    if (t === `--${boundary}`) {
      current = [];
      parts.push(current);
    } else current?.push(line);
  }
  return parts;
}

function decodeBody(e: Entity): Buffer {
  const cte = (e.headers.get('content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  if (cte === 'base64') return Buffer.from(e.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (cte === 'quoted-printable') {
    const s = e.body
      .replace(/[ \t]+$/gm, '') // trailing blanks are transport padding (RFC 2045 6.7 rule 3)
      .replace(/=\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(s, 'latin1');
  }
  return Buffer.from(e.body, 'latin1');
}

function decodeCharset(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.toLowerCase()).decode(bytes);
  } catch {
    // An unknown label: UTF-8 keeps every ASCII checkpoint line intact anyway.
    return new TextDecoder('utf-8').decode(bytes);
  }
}

function headerText(v: string | undefined): string | null {
  return v === undefined || v === '' ? null : v;
}

/** "From sender Tue Jun  2 10:00:00 2026": everything after the sender. */
function envelopeDate(envelope: string | null): string | null {
  const m = /^From \S+\s+(.+)$/.exec(envelope ?? '');
  return m ? m[1]!.trim() : null;
}
