import path from 'node:path';
import type { Config } from '../config/types.js';
import { AuditLog } from '../record/audit-log.js';
import { checkPush, parseRefUpdates, queueAutoBuilds } from '../entry/push-hooks.js';
import { localPrincipal } from './local-principal.js';
import { ExitCode } from '../util/errors.js';

/** `pocketbuild hook pre-receive|post-receive`, run by git inside a package repository. */
export async function runRepoHook(config: Config, hook: 'pre-receive' | 'post-receive'): Promise<number> {
  // git runs hooks in the bare repository itself.
  const pkg = path.basename(process.cwd()).replace(/\.git$/, '');
  const principal = process.env.POCKETBUILD_PRINCIPAL || localPrincipal();
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const updates = parseRefUpdates(Buffer.concat(chunks).toString('utf8'));
  const audit = new AuditLog(config.state_dir);
  if (hook === 'pre-receive')
    return (await checkPush(config, audit, pkg, principal, updates, process.stderr)) ? ExitCode.ok : ExitCode.denied;
  await queueAutoBuilds(config, audit, pkg, principal, updates, process.stderr);
  return ExitCode.ok;
}
