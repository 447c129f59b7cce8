import { isDeepStrictEqual } from 'node:util';
import type { Config } from './types.js';
import { loadConfig } from './load.js';

/**
 * Settings a running process cannot take over: where the state lives, what it listens on,
 * how many slots it has. A reload keeps their old values and says so; a restart applies them.
 */
const RESTART_ONLY: ReadonlyArray<readonly [keyof Config, string?]> = [
  ['state_dir'],
  ['queue_dir'],
  ['repos_dir'],
  ['cache_dir'],
  ['work_dir'],
  ['daemon', 'publish'],
  ['daemon', 'slots'],
  ['daemon', 'rescan_seconds'],
  ['ssh', 'listen'],
  ['ssh', 'port'],
  ['ssh', 'host_key'],
  ['web', 'listen'],
  ['web', 'port'],
];

export interface Reloaded {
  /** Top-level sections whose values changed. */
  changed: string[];
  /** Keys that changed in the file but keep their old values until a restart. */
  needRestart: string[];
}

/**
 * Read the configuration file again and put it in force in `live`, the object every part of
 * the process holds, all at once (no await between the first and last assignment, so nothing
 * sees half of each). A file that does not load throws its ConfigError (file:line and key)
 * and `live` is untouched: the old configuration stays in force.
 */
export function reloadConfig(live: Config): Reloaded {
  const fresh = loadConfig(live.file) as unknown as Record<string, Record<string, unknown>>;
  const old = live as unknown as Record<string, Record<string, unknown>>;
  const needRestart: string[] = [];
  for (const [section, key] of RESTART_ONLY) {
    if (key === undefined) {
      if (!isDeepStrictEqual(fresh[section], old[section])) needRestart.push(section);
      fresh[section] = old[section]!;
    } else {
      if (!isDeepStrictEqual(fresh[section]![key], old[section]![key])) needRestart.push(`${section}.${key}`);
      fresh[section] = { ...fresh[section], [key]: old[section]![key] };
    }
  }
  const changed = Object.keys(fresh).filter((k) => !isDeepStrictEqual(fresh[k], old[k]));
  for (const k of Object.keys(old)) if (!Object.hasOwn(fresh, k)) delete old[k];
  Object.assign(old, fresh);
  return { changed, needRestart };
}
