import fs from 'node:fs';
import { createHash } from 'node:crypto';

/** The sha256 of a file, streamed (outputs and .debs can be large). */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
