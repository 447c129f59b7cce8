import type { Config } from '../config/types.js';
import { EmbeddedSshServer } from '../server/embedded-ssh-server.js';
import { runCommand } from '../entry/run-command.js';
import { ExitCode } from '../util/errors.js';
import { refuseRoot } from './daemon-command.js';
import { say, untilSignal } from './until-signal.js';

/** Start the embedded SSH server on the configured address, serving the same verbs as the forced command. */
export async function startSshServer(config: Config): Promise<{ stop: () => Promise<void>; port: number }> {
  refuseRoot('the SSH server');
  const server = new EmbeddedSshServer({
    listen: config.ssh.listen,
    port: config.ssh.port,
    hostKeyPath: config.ssh.host_key,
    users: config.ssh.users,
    handler: (principal, command, io, signal) =>
      runCommand({ config, principal, raw: command, io, transport: 'embedded', signal, logInternal: say }),
    log: (line) => say(line.startsWith('ssh') ? line : `ssh: ${line}`),
  });
  const { port } = await server.start();
  say(`ssh: ${Object.keys(config.ssh.users).length} user(s) may log in (ssh.users)`);
  return { stop: () => server.close(), port };
}

/** `pocketbuild ssh-server`: serve until SIGTERM/SIGINT. */
export async function runSshServer(config: Config): Promise<number> {
  const s = await startSshServer(config);
  await untilSignal();
  await s.stop();
  return ExitCode.ok;
}
