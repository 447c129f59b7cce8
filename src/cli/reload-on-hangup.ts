import type { Config } from '../config/types.js';
import { reloadConfig } from '../config/reload.js';
import { errorLine } from '../util/errors.js';

/**
 * SIGHUP (what `systemctl reload` sends) reads the configuration again and puts it in force
 * for what comes next: new SSH logins and commands, new claims, new hook runs. A build that is
 * running keeps the configuration it was claimed with. A file that does not load is refused
 * with its file:line error, and the configuration in force stays as it was. `after` runs what
 * follows from a new configuration (authorized_keys, say) once it is in force.
 */
export function reloadOnHangup(config: Config, say: (line: string) => void, after: () => void = () => {}): () => void {
  const onHangup = () => {
    try {
      const { changed, needRestart } = reloadConfig(config);
      say(
        `reload: ${config.file} is in force${changed.length ? `; changed: ${changed.join(', ')}` : '; nothing changed'}${
          needRestart.length ? `; ${needRestart.join(', ')} keep their old values until a restart` : ''
        }`,
      );
      after();
    } catch (e) {
      say(`reload: refused, the configuration in force is unchanged: ${errorLine(e)}`);
    }
  };
  process.on('SIGHUP', onHangup);
  return () => process.off('SIGHUP', onHangup);
}
