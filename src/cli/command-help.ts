/**
 * The local commands: usage, what each does and the options it takes, from which `--help`,
 * `help COMMAND`, `COMMAND --help` and the usage errors are all made, so they cannot disagree.
 * Options are parsed by one parser for every command (args.ts); OPTIONS is its list.
 */
import { sharedVerbs, type SharedVerb } from '../entry/grammar.js';

export interface CommandHelp {
  /** The arguments after the command's name. */
  args: string;
  what: string;
  /** Option name → what it does, for this command. */
  options?: Record<string, string>;
}

const JSON_OPTION = { json: 'machine-readable output' };
const FOLLOW_OPTION = { follow: 'keep printing while the build runs, until it ends' };

/** The verbs SSH users have, with SSH's own usage and text: one implementation, one help. */
const SHARED = Object.fromEntries(
  sharedVerbs().map(({ verb, args, what, json, follow }): [SharedVerb, CommandHelp] => [
    verb,
    {
      args,
      what,
      ...(json || follow ? { options: { ...(json ? JSON_OPTION : {}), ...(follow ? FOLLOW_OPTION : {}) } } : {}),
    },
  ]),
) as Record<SharedVerb, CommandHelp>;

/** The commands only the builder's own machine has. */
const LOCAL = {
  daemon: { args: '', what: 'run the build daemon in the foreground; SIGHUP reloads the configuration' },
  init: {
    args: '',
    what: 'prepare the state directory, the signing key and the builder key (provenance, audit checkpoints)',
  },
  repo: { args: 'create NAME', what: 'create an empty package repository NAME.git, with hooks' },
  ssh: {
    args: '--principal NAME',
    what: 'the OpenSSH forced command: runs $SSH_ORIGINAL_COMMAND (see "help" over ssh) for principal NAME; in authorized_keys: command="pocketbuild ssh --principal alice",restrict ssh-ed25519 …',
    options: { principal: 'the principal the key belongs to' },
  },
  user: {
    args: 'add NAME --key FILE.pub | user list | user remove NAME',
    what: "who may log in over SSH, without editing the config: add lets the keys of FILE.pub log in as principal NAME (as ssh.account@HOST, e.g. build@HOST), at once in the embedded server and, when ssh.authorized_keys is set, in OpenSSH's authorized_keys; list shows every key and where it comes from; remove takes NAME's added keys away. Audited",
    options: { key: 'the public key file (user add)', ...JSON_OPTION },
  },
  doctor: {
    args: '',
    what: 'check what a builder needs (user namespaces, subordinate ids, the programs, disk space, key files and their modes, the mail server, free ports, KVM for vm pockets) and print the command that fixes each problem; exit 1 if any',
    options: JSON_OPTION,
  },
  'ssh-server': { args: '', what: 'run the embedded SSH server in the foreground' },
  hook: { args: 'pre-receive|post-receive', what: "called by package repositories' git hooks" },
  audit: {
    args: 'verify [--against MBOX [--key PUB]] [FILE] | audit checkpoint',
    what: "verify: check the audit log's hash chain (default <state_dir>/audit.log); exit 1 naming the first bad entry. With --against, also check it against every signed checkpoint mailed into MBOX; exit 1 on a bad signature, a rewritten history or a truncated log. checkpoint: print the audit log's current signed checkpoint, between markers, for mailing as a heartbeat",
    options: {
      against: 'an mbox of mailed checkpoints to check the log against',
      key: "the builder's public key for --against (default <state_dir>/keys/builder.pub)",
    },
  },
  verify: {
    args: '[--key PUB] [--provenance PATH] [--builder-id ID] FILE|SHA256...',
    what: 'find the build that made each file (a .deb, .dsc...) from its signed provenance; print who asked, which commit, which inputs and where the log is; exit 1 on any mismatch. On another machine give the builder.pub and provenance/ that the repository publishes',
    options: {
      key: "the builder's public key (builder.pub)",
      provenance: 'a provenance file, or the provenance/ folder the repository publishes',
      'builder-id': 'the builder id the provenance must name',
      ...JSON_OPTION,
    },
  },
  rebuild: {
    args: 'ID',
    what: "build ID again from its recorded inputs (same commit, base image and .debs) and compare the outputs' sha256; exit 1 naming the files that differ",
    options: JSON_OPTION,
  },
  web: {
    args: '',
    what: 'serve the status site at /, its JSON API at /api/, and the APT repository at /apt/, read-only (config: web); SIGHUP reloads the configuration',
  },
  'release-hook': {
    args: '--key FPR RELEASE INRELEASE RELEASE.GPG',
    what: "run by reprepro to sign a suite's Release (conf/distributions SignWith); adds the by-hash indices first",
    options: { key: 'the signing key fingerprint' },
  },
  start: {
    args: '',
    what: 'set up everything and run the daemon, the SSH server and the web server (what "npm start" does)',
  },
  help: { args: '[COMMAND]', what: "this text, or one command's" },
} satisfies Record<string, CommandHelp>;

export type CommandName = SharedVerb | keyof typeof LOCAL;

export const COMMANDS: Record<CommandName, CommandHelp> = { ...SHARED, ...LOCAL };

export function isSharedVerb(name: string): name is SharedVerb {
  return Object.hasOwn(SHARED, name);
}

/** Options every command takes. */
const GLOBAL_OPTIONS: Record<string, string> = {
  config: 'the configuration (default: $POCKETBUILD_CONFIG, ./config.yml, /etc/pocketbuild/config.yml)',
  help: "this text, or with a command, that command's",
  version: 'the version',
};

/** Options that take a value; the rest are flags. */
const VALUE_OPTIONS = new Set(['config', 'principal', 'key', 'provenance', 'builder-id', 'against']);

/** What the parser accepts: every option some command documents, and the global ones. */
export function parserSpec(): { values: string[]; flags: string[] } {
  const all = new Set([
    ...Object.keys(GLOBAL_OPTIONS),
    ...Object.values(COMMANDS as Record<string, CommandHelp>).flatMap((c) => Object.keys(c.options ?? {})),
  ]);
  return {
    values: [...all].filter((o) => VALUE_OPTIONS.has(o)),
    flags: [...all].filter((o) => !VALUE_OPTIONS.has(o)).concat('h'),
  };
}

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** `usage: pocketbuild NAME ARGS`, for usage errors. */
export function usageLine(name: CommandName): string {
  const c: CommandHelp = COMMANDS[name];
  return `usage: pocketbuild ${name}${c.args ? ` ${c.args}` : ''}`;
}

function wrap(text: string, indent: string, width = 94): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && (indent + line + ' ' + word).length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}

function optionLines(options: Record<string, string>): string {
  return Object.entries(options)
    .map(([o, what]) => `  --${o}${VALUE_OPTIONS.has(o) ? ' VALUE' : ''}\n${wrap(what, '      ')}`)
    .join('\n');
}

/** One command's help. */
export function commandHelp(name: CommandName): string {
  const c: CommandHelp = COMMANDS[name];
  return `${usageLine(name).replace(/^usage/, 'Usage')}\n\n${wrap(c.what, '')}\n${
    c.options ? `\nOptions:\n${optionLines(c.options)}\n` : ''
  }\nAlso: --config FILE, ${GLOBAL_OPTIONS.config}.\n`;
}

/** The whole help. */
export function mainHelp(): string {
  const rows = Object.entries(COMMANDS as Record<string, CommandHelp>)
    .map(([n, c]) => `  ${n}${c.args ? ` ${c.args}` : ''}\n${wrap(c.what, '      ')}`)
    .join('\n');
  return `pocketbuild: a Git-driven build queue for Debian packages

Usage: pocketbuild [--config FILE] COMMAND [ARGS]
       pocketbuild help COMMAND, or pocketbuild COMMAND --help: that command's options

Commands:
${rows}

Options:
${optionLines({ ...GLOBAL_OPTIONS, ...JSON_OPTION })}

Exit codes: 0 ok, 1 failed, 2 usage, 3 denied, 4 not found, 5 conflict, 6 config, 70 internal.
`;
}
