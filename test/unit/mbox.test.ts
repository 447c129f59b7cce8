import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { parseMbox } from '../../src/record/mbox.js';
import { armorCheckpoint, findArmoredCheckpoints } from '../../src/record/checkpoint-armor.js';
import { signCheckpoint, verifyCheckpoint } from '../../src/record/checkpoint.js';
import { composeEventMail } from '../../src/notify/email-message.js';
import { keyId } from '../../src/record/builder-key.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const key = { privateKey, publicKey, keyid: keyId(publicKey) };
const checkpoint = signCheckpoint({ origin: 'builder.example/audit', size: 42, head: 'ab'.repeat(32) }, key);
const body = `hello 1.0 -> stable: succeeded\n\nFrom the builder, with love.\n\n${armorCheckpoint(checkpoint)}`;

/** A message as nodemailer really composes it, in the given transfer encoding. */
async function compose(o: Record<string, unknown>): Promise<string> {
  const raw = await new MailComposer({
    from: 'pb@builder.example',
    to: 'audit@example.org',
    subject: 'x',
    date: new Date('2026-06-02T10:00:00Z'),
    ...o,
  })
    .compile()
    .build();
  return raw.toString('latin1');
}

/** The mboxrd writing rule: a "From " separator line, ">" before any (>*)From line, a blank line after. */
function mbox(...messages: string[]): string {
  return messages
    .map(
      (m) =>
        `From pb@builder.example Tue Jun  2 10:00:00 2026\n${m
          .replace(/\r\n/g, '\n')
          .replace(/^(>*From )/gm, '>$1')
          .replace(/\n?$/, '\n')}\n`,
    )
    .join('');
}

describe('mbox', () => {
  it('finds the checkpoint in quoted-printable, base64 and 8bit bodies, byte for byte', async () => {
    const text = mbox(
      await compose({ text: body, textEncoding: 'quoted-printable' }),
      await compose({ text: body, textEncoding: 'base64' }),
      `From: pb@builder.example\nDate: Wed, 03 Jun 2026 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n${Buffer.from(body, 'utf8').toString('latin1')}`,
    );
    expect(text).toContain('=E2=80=94'); // the signature line's em dash really was encoded
    const messages = parseMbox(Buffer.from(text, 'latin1'));
    expect(messages.map((m) => m.index)).toEqual([1, 2, 3]);
    expect(messages[0]!.date).toBe('Tue, 02 Jun 2026 10:00:00 +0000');
    expect(messages[2]!.date).toBe('Wed, 03 Jun 2026 10:00:00 +0000');
    for (const m of messages) {
      expect(m.texts).toHaveLength(1);
      expect(m.texts[0]).toContain('From the builder, with love.');
      expect(m.texts.flatMap(findArmoredCheckpoints)).toEqual([checkpoint]);
    }
  });

  it('reads text parts of multipart mail and of a forwarded message, skipping attachments', async () => {
    const inner = await compose({ text: body, textEncoding: 'base64' });
    const outer = await compose({
      text: 'see the attached mail',
      html: '<p>see the attached mail</p>',
      attachments: [
        { filename: 'fwd.eml', content: inner, contentType: 'message/rfc822' },
        {
          filename: 'junk.bin',
          content: Buffer.from(armorCheckpoint('not a checkpoint\n')),
          contentType: 'application/octet-stream',
        },
      ],
    });
    const [m] = parseMbox(mbox(outer));
    expect(m!.texts.some((t) => t.includes('see the attached mail'))).toBe(true);
    expect(m!.texts.flatMap(findArmoredCheckpoints)).toEqual([checkpoint]);
  });

  it('splits only at "From " lines after an empty line, and unescapes >From', () => {
    const a =
      'From: a@x\nSubject: one\n\nline\n>From the start\n>>From deeper\nFrom here on (an mboxo writer forgot to escape)\n';
    const b = 'From: b@x\nSubject: two\n\nsecond\n';
    const [m1, m2, ...rest] = parseMbox(
      `From a@x Mon Jun  1 00:00:00 2026\n${a}\nFrom b@x Tue Jun  2 00:00:00 2026\n${b}\n`,
    );
    expect(rest).toEqual([]);
    expect(m1!.texts).toEqual(['line\nFrom the start\n>From deeper\nFrom here on (an mboxo writer forgot to escape)']);
    expect(m1!.date).toBe('Mon Jun  1 00:00:00 2026');
    expect(m2!.texts).toEqual(['second']);
  });

  it('takes a file without a "From " line as one message (a saved .eml), CRLF and all', async () => {
    const eml = (await compose({ text: body })).replace(/\r?\n/g, '\r\n');
    const [m, ...rest] = parseMbox(eml);
    expect(rest).toEqual([]);
    expect(m!.texts.flatMap(findArmoredCheckpoints)).toEqual([checkpoint]);
  });
});

describe("the e-mail hook's message", () => {
  it('says a promotion was promoted, from which pocket, and whose files', () => {
    const mail = composeEventMail({
      event: 'promoted',
      request: {
        id: '01JPROMOTION',
        pocket: 'stable',
        package: 'hello',
        commit: 'c0ffee'.repeat(6) + 'abcd',
        principal: 'alice',
        promote: { from: 'dev', version: '2.10-3', build: '01JBUILD' },
      },
      result: { status: 'succeeded', version: '2.10-3' },
    });
    expect(mail.subject).toBe('[pocketbuild] hello 2.10-3 -> stable: promoted from dev (01JPROMOTION)');
    expect(mail.text).toMatch(/^promotion: +from dev, the files of build 01JBUILD$/m);
    expect(mail.headers).toMatchObject({ 'X-Pocketbuild-Event': 'promoted', 'X-Pocketbuild-Status': 'succeeded' });
  });

  it('carries the build, the anchor in headers, and a checkpoint that verifies after nodemailer encoded it', async () => {
    const mail = composeEventMail({
      event: 'failed',
      request: {
        id: '01JTESTID',
        pocket: 'stable',
        package: 'hello',
        commit: 'c0ffee'.repeat(6) + 'abcd',
        principal: 'alice',
      },
      result: {
        status: 'failed',
        version: '2.10-3',
        code: 'BuildFailed',
        reason: 'dpkg-buildpackage exited with status 2\nsee the log',
      },
      audit: { size: 42, head: 'ab'.repeat(32), checkpoint },
      provenance: { file: '/var/x/provenance.intoto.jsonl', sha256: 'cd'.repeat(32) },
    });
    expect(mail.subject).toBe('[pocketbuild] hello 2.10-3 -> stable: failed (01JTESTID)');
    expect(mail.headers).toMatchObject({
      'X-Pocketbuild-Audit-Size': '42',
      'X-Pocketbuild-Audit-Head': 'ab'.repeat(32),
      'X-Pocketbuild-Provenance-Sha256': 'cd'.repeat(32),
    });
    expect(mail.text).toContain('reason:     dpkg-buildpackage exited with status 2 see the log\n');
    expect(mail.text).toContain(`commit:     ${'c0ffee'.repeat(6)}abcd\n`);
    const [m] = parseMbox(mbox(await compose({ subject: mail.subject, text: mail.text, headers: mail.headers })));
    const [found, ...more] = m!.texts.flatMap(findArmoredCheckpoints);
    expect(more).toEqual([]);
    expect(verifyCheckpoint(found!, publicKey)).toEqual({
      ok: true,
      checkpoint: { origin: 'builder.example/audit', size: 42, head: 'ab'.repeat(32) },
    });
  });
});

describe('armored checkpoints', () => {
  it('survives a reply quoting it and trailing blanks, and ignores a block without its end', () => {
    const quoted = armorCheckpoint(checkpoint)
      .split('\n')
      .map((l) => (l ? `> ${l}  ` : '>'))
      .join('\n');
    const cut = armorCheckpoint(checkpoint).split('\n').slice(0, 3).join('\n');
    expect(findArmoredCheckpoints(`On Tuesday the builder wrote:\n${quoted}\nThanks!\n${cut}`)).toEqual([checkpoint]);
  });
});
