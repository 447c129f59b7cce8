import path from 'node:path';
import type { Config } from '../config/types.js';
import { APT_PREFIX } from '../web/apt-routes.js';
import { startWebServer } from '../web/server.js';
import { ExitCode } from '../util/errors.js';
import { refuseRoot } from './daemon-command.js';
import { say, untilSignal } from './until-signal.js';
import { reloadOnHangup } from './reload-on-hangup.js';

/** How clients reach the server: web.base_url, else the listen address (IPv6 in brackets). */
export function webBaseUrl(config: Config, port: number): string {
  if (config.web.base_url) return config.web.base_url;
  const host = config.web.listen.includes(':') ? `[${config.web.listen}]` : config.web.listen;
  return `http://${host}:${port}`;
}

/** The apt sources line for a suite, trusting only the repository's key (saved where `keyFile` says). */
export function aptSourcesLine(config: Config, port: number, suite: string, keyFile: string): string {
  return `deb [signed-by=${keyFile}] ${webBaseUrl(config, port)}${APT_PREFIX.replace(/\/$/, '')} ${suite} main`;
}

/** Start serving `<state_dir>/apt` over HTTP on web.listen:web.port. */
export async function startWeb(config: Config): Promise<{ stop: () => Promise<void>; port: number; url: string }> {
  refuseRoot('the web server');
  const server = await startWebServer({
    repoDir: path.join(config.state_dir, 'apt'),
    config,
    listen: config.web.listen,
    port: config.web.port,
    log: say,
  });
  const url = `${webBaseUrl(config, server.port)}${APT_PREFIX}`;
  say(
    `web: listening on ${config.web.listen}:${server.port}; the status site is at ${webBaseUrl(config, server.port)}/, the APT repository at ${url}`,
  );
  return { stop: server.close, port: server.port, url };
}

/** `pocketbuild web`: serve until SIGTERM/SIGINT. */
export async function runWeb(config: Config): Promise<number> {
  const web = await startWeb(config);
  const pocket = Object.values(config.pockets)[0]!;
  say(`web: fetch the key with: curl -fsSo /etc/apt/keyrings/pocketbuild.gpg ${web.url}key.gpg`);
  say(
    `web: then, in /etc/apt/sources.list.d/pocketbuild.list: ${aptSourcesLine(config, web.port, pocket.suite, '/etc/apt/keyrings/pocketbuild.gpg')}`,
  );
  reloadOnHangup(config, say);
  const sig = await untilSignal();
  say(`web: ${sig}: stopping`);
  await web.stop();
  return ExitCode.ok;
}
