import type { Config } from '../config/types.js';
import { DirectoryQueue } from '../queue/directory-queue.js';
import { Daemon } from '../daemon/daemon.js';
import { makeWorker } from '../pipeline/run-request.js';
import { AuditLog } from '../record/audit-log.js';
import { BuildIndex } from '../record/build-index.js';
import { joinState, prepareState } from '../publish/prepare-state.js';
import { stopAgent } from '../publish/signing-key.js';
import { errorLine, ExitCode, PocketbuildError, UsageError } from '../util/errors.js';
import { makeBaseImageAhead } from './base-image-ahead.js';
import { dropDeadLeases } from '../steps/deps-layer.js';
import { isFaultPoint } from '../util/fault-point.js';
import { say, untilSignal } from './until-signal.js';
import { reloadOnHangup } from './reload-on-hangup.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { refreshRepoHooks } from '../git/repo-hooks.js';
import { EntrySocketServer } from '../entry/entry-socket.js';
import { refreshAuthorizedKeys } from './user-command.js';

export function refuseRoot(what: string): void {
  if (process.getuid?.() === 0) {
    throw new PocketbuildError(
      'RunningAsRoot',
      `${what} must not run as root: builds need no privilege, and a root daemon would widen every escape; run it as an unprivileged user with /etc/subuid and /etc/subgid ranges ("npm start" does this for you).`,
    );
  }
}

/** Prepare the state and start building; returns how to stop. */
export async function startDaemon(config: Config): Promise<{ stop: () => Promise<void> }> {
  refuseRoot('the daemon');
  const fault = process.env.POCKETBUILD_FAULT;
  if (fault && !isFaultPoint(fault))
    throw new UsageError(
      `POCKETBUILD_FAULT=${fault} names no fault point; it is for the fault campaign only (docs/faults.md lists the points), unset it to build.`,
    );
  if (fault) say(`daemon: POCKETBUILD_FAULT=${fault}: this daemon kills itself when it gets there`);
  const publishes = config.daemon.publish;
  const { repo, fingerprint } = publishes
    ? await prepareState(config, { createKey: true })
    : { ...joinState(config), fingerprint: null };
  const queue = DirectoryQueue.forConfig(config, {
    onQuarantine: (file, reason) => say(`queue: moved ${file} to quarantine/: ${reason}`),
  });
  // What the shared state holds for every host (the push hooks naming a config file, the build
  // index) is the publishing host's to keep; a builder host would point the hooks at its own file.
  if (publishes) {
    const rehooked = refreshRepoHooks(
      config.repos_dir,
      fileURLToPath(new URL('./main.js', import.meta.url)),
      config.file,
    );
    if (rehooked) say(`daemon: the push hooks of ${rehooked} repositories now use ${config.file}`);
    const indexed = new BuildIndex(config.state_dir).repair();
    if (indexed) say(`daemon: added ${indexed} finished builds to the build index`);
  }
  refreshAuthorizedKeys(config, (line) => say(`daemon: ${line}`));
  const worker = makeWorker(config, repo, new AuditLog(config.state_dir), say);
  const daemon = new Daemon({
    queue,
    slots: config.daemon.slots,
    rescanMs: config.daemon.rescan_seconds * 1000,
    work: worker.work,
    onQueued: worker.onQueued,
    publishes: config.daemon.publish,
    dependencies: worker.dependencies,
    log: say,
  });
  // Before any build: a lease left by this host's daemon that died would keep a layer forever.
  // (Another daemon of this host may be running: only dead pids' leftovers go.)
  await dropDeadLeases(path.join(config.cache_dir, 'layers'));
  await daemon.start();
  // In the background: the daemon answers and queues meanwhile; a build waits for it, saying so.
  void makeBaseImageAhead(config, (line) => say(`daemon: ${line}`)).catch((e: unknown) =>
    say(`daemon: the base image could not be made ahead (${errorLine(e)}); the first build tries again`),
  );
  // SSH commands are answered on the publishing host; a socket cannot live on a network file system.
  const entry = new EntrySocketServer(config, path.join(config.state_dir, 'entry.sock'), say);
  if (publishes && (await entry.start())) say(`daemon: answering SSH commands on ${entry.path}`);
  say(
    `daemon: watching ${config.queue_dir} with ${config.daemon.slots} slot(s); ${fingerprint ? `publishing to ${repo.dir} signed by ${fingerprint}` : 'a builder host: built requests are handed to the publishing daemon'}`,
  );
  return {
    stop: async () => {
      await entry.close();
      await daemon.close();
      if (publishes) await stopAgent(config.state_dir);
    },
  };
}

/** `pocketbuild daemon`: build until SIGTERM/SIGINT. */
export async function runDaemon(config: Config): Promise<number> {
  const d = await startDaemon(config);
  reloadOnHangup(config, say, () => refreshAuthorizedKeys(config, (line) => say(`daemon: ${line}`)));
  const sig = await untilSignal();
  say(`daemon: ${sig}: stopping; running builds stay queued and restart next time`);
  await d.stop();
  say('daemon: stopped');
  return ExitCode.ok;
}
