import type { Readable, Writable } from 'node:stream';

/** The three streams of one SSH session (or of the local process, for the forced command). */
export interface SessionIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export type Transport = 'openssh' | 'embedded';
