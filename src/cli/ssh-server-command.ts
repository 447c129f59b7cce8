import type { Config } from '../config/types.js';
import { EmbeddedSshServer } from '../server/embedded-ssh-server.js';
import { runCommand } from '../entry/run-command.js';
import { listUserKeys, usersByPrincipal } from '../server/user-keys.js';
import { ExitCode } from '../util/errors.js';
import { refuseRoot } from './daemon-command.js';
import { say, untilSignal } from './until-signal.js';
import { reloadOnHangup } from './reload-on-hangup.js';

/** Start the embedded SSH server on the configured address, serving the same verbs as the forced command. */
export async function startSshServer(config: Config): Promise<{ stop: () => Promise<void>; port: number }> {
  refuseRoot('the SSH server');
  const server = new EmbeddedSshServer({
    listen: config.ssh.listen,
    port: config.ssh.port,
    hostKeyPath: config.ssh.host_key,
    users: () => usersByPrincipal(listUserKeys(config, say)),
    account: config.ssh.account,
    handler: (principal, command, io, signal) =>
      runCommand({ config, principal, raw: command, io, transport: 'embedded', signal, logInternal: say }),
    log: (line) => say(line.startsWith('ssh') ? line : `ssh: ${line}`),
  });
  const { port } = await server.start();
  const users = Object.keys(usersByPrincipal(listUserKeys(config))).length;
  say(
    `ssh: ${users} user(s) may log in as ${config.ssh.account}@ (ssh.users and "pocketbuild user add"); keys added later work at once`,
  );
  return { stop: () => server.close(), port };
}

/** `pocketbuild ssh-server`: serve until SIGTERM/SIGINT. */
export async function runSshServer(config: Config): Promise<number> {
  const s = await startSshServer(config);
  reloadOnHangup(config, say);
  await untilSignal();
  await s.stop();
  return ExitCode.ok;
}
