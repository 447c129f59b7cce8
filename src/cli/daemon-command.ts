import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { Daemon } from '../daemon/daemon.js';
import { makeWorker } from '../build/worker.js';
import { prepareState } from '../publish/prepare-state.js';
import { stopAgent } from '../publish/signing-key.js';
import { ExitCode, PocketbuildError } from '../util/errors.js';

function say(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/** `pocketbuild daemon`: prepare the state, then build until SIGTERM/SIGINT. */
export async function runDaemon(config: Config): Promise<number> {
  if (process.getuid?.() === 0) {
    throw new PocketbuildError('RunningAsRoot', 'the daemon must not run as root: builds need no privilege, and a root daemon would widen every escape; run it as an unprivileged user with /etc/subuid and /etc/subgid ranges ("npm start" does this for you).', {}, ExitCode.usage);
  }
  const { repo, fingerprint } = await prepareState(config, { createKey: true });
  const queue = new DirectoryQueue(config.queue_dir, {
    staleMs: config.daemon.claim_stale_seconds * 1000,
    onQuarantine: (file, reason) => say(`queue: moved ${file} to quarantine/: ${reason}`),
  });
  const daemon = new Daemon({
    queue,
    slots: config.daemon.slots,
    rescanMs: config.daemon.rescan_seconds * 1000,
    work: makeWorker(config, repo, say),
    log: say,
  });
  await daemon.start();
  say(`daemon: watching ${config.queue_dir} with ${config.daemon.slots} slot(s); publishing to ${repo.dir} signed by ${fingerprint}`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      say(`daemon: ${sig}: stopping; running builds stay queued and restart next time`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await daemon.close();
  await stopAgent(config.state_dir);
  say('daemon: stopped');
  return ExitCode.ok;
}
