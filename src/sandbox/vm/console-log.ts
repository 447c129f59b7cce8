import { Writable } from 'node:stream';

/**
 * The build log as the VM's serial console sees it: the guest's tty turns every newline
 * into CR LF, which would leave a CR on each line of build.log and break line-anchored
 * parsing of the output (the `pocketbuild-mark:` lines).
 */
export function consoleLog(log: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      // Byte-wise, so a multi-byte character split across chunks is passed on intact.
      log.write(Buffer.from(chunk.filter((b) => b !== 0x0d)));
      done();
    },
  });
}

export function stripCarriageReturns(s: string): string {
  return s.replace(/\r/g, '');
}
