/**
 * A pocket's acl_command: an executable, run as `[acl_command, pocket]`, that prints the
 * principals allowed to build into the pocket, one a line (`*` for everyone; blank lines and
 * `# comments` ignored). Anything but a clean, well-formed answer in time counts as no answer,
 * so a broken command can only ever take access away.
 */
import fs from 'node:fs';
import { PRINCIPAL_NAME } from '../util/names.js';
import { run } from '../util/run.js';
import { quoted } from './quote.js';

export const ACL_COMMAND_TIMEOUT_MS = 10_000;

/** Someone is waiting on an SSH prompt: do not give a command that ignores SIGTERM long. */
const GRACE_MS = 1000;

/**
 * Nothing of ours leaks into the command (no SSH_ORIGINAL_COMMAND, no secrets from the
 * daemon's environment); it gets a PATH and a predictable locale.
 */
const MINIMAL_ENV: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C.UTF-8' };

export type AclCommandAnswer =
  | { ok: true; principals: ReadonlySet<string>; anyone: boolean }
  /** `why` completes "acl_command X failed (...)": how it ended, or what was wrong with its output. */
  | { ok: false; why: string };

export async function askAclCommand(
  command: string,
  pocket: string,
  timeoutMs: number = ACL_COMMAND_TIMEOUT_MS,
): Promise<AclCommandAnswer> {
  const unusable = await whyNotExecutable(command);
  if (unusable) return { ok: false, why: `cannot be run: ${unusable}` };

  // cwd "/", so what the command does never depends on where the entry point was started.
  const r = await run([command, pocket], { timeoutMs, graceMs: GRACE_MS, env: { ...MINIMAL_ENV }, cwd: '/' });
  // A command that traps SIGTERM and then exits 0 still ran out of time.
  if (r.timedOut || r.cancelled || r.code !== 0) return { ok: false, why: r.how };

  const principals = new Set<string>();
  let anyone = false;
  const lines = r.stdout.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line === '*') anyone = true;
    else if (PRINCIPAL_NAME.test(line)) principals.add(line);
    else {
      return {
        ok: false,
        why: `exited with status 0 but printed ${quoted(line)} on line ${i + 1}, which is neither a principal name nor "*"`,
      };
    }
  }
  return { ok: true, principals, anyone };
}

/** Said up front, since "exited with status 127" from the exec wrapper would not say why. */
async function whyNotExecutable(command: string): Promise<string | undefined> {
  try {
    const st = await fs.promises.stat(command);
    if (!st.isFile()) return 'it is not a regular file';
    await fs.promises.access(command, fs.constants.X_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'it does not exist';
    if (code === 'EACCES') return 'it is not executable';
    return code ?? String(e);
  }
}
