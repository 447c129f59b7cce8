/** Resolve on the first SIGTERM or SIGINT, saying which. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => {
      process.removeAllListeners('SIGTERM');
      process.removeAllListeners('SIGINT');
      resolve(sig);
    };
    process.once('SIGTERM', on('SIGTERM'));
    process.once('SIGINT', on('SIGINT'));
  });
}

export function say(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}
