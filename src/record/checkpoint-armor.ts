/**
 * The markers a signed checkpoint travels between in mail and heartbeats, so that
 * `audit verify --against` can find it again in whatever the mailbox kept: the text is
 * recovered line by line, whatever the transfer encoding or a reply's quoting did to it.
 * When changing them, update README.md ("Audit log") — mail already delivered keeps the old ones.
 */
export const CHECKPOINT_BEGIN = '-----BEGIN POCKETBUILD AUDIT CHECKPOINT-----';
export const CHECKPOINT_END = '-----END POCKETBUILD AUDIT CHECKPOINT-----';

/** A signed checkpoint (ending in a newline) between the markers. */
export function armorCheckpoint(checkpoint: string): string {
  return `${CHECKPOINT_BEGIN}\n${checkpoint.endsWith('\n') ? checkpoint : `${checkpoint}\n`}${CHECKPOINT_END}\n`;
}

/**
 * Every armored checkpoint in a decoded text, as the signed text again. Whatever precedes the
 * BEGIN marker on its line (a reply's "> ") is taken off every line up to the END marker, and
 * trailing blanks are dropped (checkpoint lines never end in one; some transports add them).
 * A block without its END marker is ignored: it cannot be whole.
 */
export function findArmoredCheckpoints(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const found: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trimEnd();
    if (!line.endsWith(CHECKPOINT_BEGIN)) continue;
    const prefix = line.slice(0, -CHECKPOINT_BEGIN.length);
    const inner: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      let l = lines[j]!.trimEnd();
      if (l.startsWith(prefix)) l = l.slice(prefix.length);
      else if (l === prefix.trimEnd()) l = '';
      if (l === CHECKPOINT_END) break;
      inner.push(l);
    }
    if (j >= lines.length) break;
    found.push(`${inner.join('\n')}\n`);
    i = j;
  }
  return found;
}
