import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/types.js';
import { runCommand } from '../entry/run-command.js';
import { checkField } from '../queue/request.js';

/**
 * The OpenSSH forced command: `command="pocketbuild ssh --principal alice",restrict …`.
 * What the user typed is in SSH_ORIGINAL_COMMAND and is only ever parsed, never run.
 */
export async function runSshEntry(config: Config, principal: string): Promise<number> {
  checkField('principal', principal);
  const code = await runCommand({
    config,
    principal,
    raw: process.env.SSH_ORIGINAL_COMMAND ?? '',
    io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    transport: 'openssh',
    logInternal: (line) => {
      // No server log exists for a forced command: keep internal errors beside the state.
      const dir = path.join(config.state_dir, 'log');
      fs.mkdirSync(dir, { recursive: true });
      fs.appendFileSync(path.join(dir, 'entry.log'), `${new Date().toISOString()} ${line}\n`);
    },
  });
  process.stdin.destroy(); // a git session may have left it flowing; nothing more is read
  return code;
}
