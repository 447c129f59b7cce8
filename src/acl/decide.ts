/**
 * Who may do what: the one place the ACLs of the config are read. Every answer carries a
 * sentence saying why, for the user who was refused and for the audit log.
 */
import { PACKAGE_NAME, POCKET_NAME, PRINCIPAL_NAME } from '../util/names.js';
import type { Config } from '../config/types.js';
import { UnknownPocket } from '../util/errors.js';
import { AccessDenied } from './access-denied.js';
import { askAclCommand, ACL_COMMAND_TIMEOUT_MS } from './acl-command.js';
import { listEntries, matchingEntry } from './entries.js';
import { quoted } from './quote.js';
import { rightPhrase, type Decision, type Right } from './rights.js';

export interface DecideOptions {
  /** How long a pocket's acl_command may take. @defaultValue 10 000 (tests use less) */
  aclCommandTimeoutMs?: number;
}

export async function decide(
  config: Config,
  principal: string,
  right: Right,
  opts: DecideOptions = {},
): Promise<Decision> {
  // Callers check names at the edge too; here it keeps "*" or "group:x" from ever being a principal.
  if (!PRINCIPAL_NAME.test(principal)) return deny(`${quoted(principal)} is not a principal name; denying`);

  switch (right.kind) {
    case 'build':
      return decideBuild(config, principal, right.pocket, opts.aclCommandTimeoutMs ?? ACL_COMMAND_TIMEOUT_MS);
    case 'push':
    case 'read':
      return decideRepo(config, principal, right);
    case 'admin': {
      const entry = matchingEntry(config.groups, principal, config.admins);
      return entry !== undefined
        ? allow(`${principal} may ${rightPhrase(right)} (admins: ${entry})`)
        : deny(`${principal} may not ${rightPhrase(right)} (allowed by admins: ${listEntries(config.admins)})`);
    }
  }
}

/**
 * Like `decide`, but a refusal is thrown as AccessDenied whose message is the reason; except
 * that a pocket the configuration does not have is UnknownPocket, the code submit and the
 * build give it too, since no ACL could allow it.
 */
export async function requireRight(
  config: Config,
  principal: string,
  right: Right,
  opts: DecideOptions = {},
): Promise<void> {
  const d = await decide(config, principal, right, opts);
  if (d.allowed) return;
  const unknownPocket =
    right.kind === 'build' &&
    PRINCIPAL_NAME.test(principal) &&
    POCKET_NAME.test(right.pocket) &&
    !Object.hasOwn(config.pockets, right.pocket);
  if (unknownPocket) throw new UnknownPocket(right.pocket, Object.keys(config.pockets));
  throw new AccessDenied(d.reason, { principal, right });
}

async function decideBuild(config: Config, principal: string, name: string, timeoutMs: number): Promise<Decision> {
  const pocket = POCKET_NAME.test(name) && Object.hasOwn(config.pockets, name) ? config.pockets[name] : undefined;
  if (!pocket) {
    const shown = POCKET_NAME.test(name) ? name : quoted(name);
    const known = Object.keys(config.pockets).join(', ');
    return deny(`${principal} may not build into ${shown}: unknown pocket ${shown} (known: ${known})`);
  }
  const phrase = rightPhrase({ kind: 'build', pocket: name });
  const entry = matchingEntry(config.groups, principal, pocket.acl);
  // The list alone is enough to allow, so a broken acl_command never locks out those it names.
  if (entry !== undefined) return allow(`${principal} may ${phrase} (acl: ${entry})`);
  const allowed = listEntries(pocket.acl);
  if (pocket.acl_command === undefined) return deny(`${principal} may not ${phrase} (allowed: ${allowed})`);

  const command = pocket.acl_command;
  const answer = await askAclCommand(command, name, timeoutMs);
  if (!answer.ok) {
    return deny(
      `${principal} may not ${phrase}: acl_command ${command} failed (${answer.why}); denying (allowed without it: ${allowed})`,
    );
  }
  if (answer.principals.has(principal))
    return allow(`${principal} may ${phrase} (acl_command ${command} printed ${principal})`);
  if (answer.anyone) return allow(`${principal} may ${phrase} (acl_command ${command} printed *)`);
  return deny(
    `${principal} may not ${phrase} (allowed: ${allowed}; acl_command ${command} did not print ${principal})`,
  );
}

function decideRepo(config: Config, principal: string, right: Extract<Right, { kind: 'push' | 'read' }>): Decision {
  const pkg = right.package;
  if (!PACKAGE_NAME.test(pkg))
    return deny(`${principal} may not ${right.kind} ${quoted(pkg)}: it is not a package name`);
  const phrase = rightPhrase(right);
  const own = Object.hasOwn(config.repos, pkg) ? config.repos[pkg] : undefined;
  const acl = own ?? config.repo_defaults;
  const key = own ? `repos.${pkg}` : 'repo_defaults';

  const entry = matchingEntry(config.groups, principal, acl[right.kind]);
  if (entry !== undefined) return allow(`${principal} may ${phrase} (${key}.${right.kind}: ${entry})`);
  if (right.kind === 'push')
    return deny(`${principal} may not ${phrase} (allowed by ${key}.push: ${listEntries(acl.push)})`);

  // receive-pack shows a pusher every ref anyway, so refusing them a fetch would protect nothing.
  const pusher = matchingEntry(config.groups, principal, acl.push);
  if (pusher !== undefined)
    return allow(`${principal} may ${phrase} (${key}.push: ${pusher}; pushing implies reading)`);
  return deny(
    `${principal} may not ${phrase} (allowed by ${key}.read and ${key}.push: ${listEntries([...acl.read, ...acl.push])})`,
  );
}

function allow(reason: string): Decision {
  return { allowed: true, reason };
}

function deny(reason: string): Decision {
  return { allowed: false, reason };
}
