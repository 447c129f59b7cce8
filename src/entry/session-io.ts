import type { Readable, Writable } from 'node:stream';

/** The three streams of one SSH session (or of the local process, for the forced command). */
export interface SessionIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** How a command arrived: OpenSSH's forced command, the embedded SSH server, or the local CLI (the trusted path). */
export type Transport = 'openssh' | 'embedded' | 'local';
