#!/usr/bin/env node
import { asKnownError, errorLine, ExitCode, UsageError } from '../util/errors.js';
import { OUTCOMES } from '../util/outcomes.js';
import { findConfigFile, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { parseArgs, type ParsedArgs } from './args.js';
import {
  commandHelp,
  isCommand,
  isSharedVerb,
  mainHelp,
  parserSpec,
  usageLine,
  type CommandName,
} from './command-help.js';
import { localPrincipal } from './local-principal.js';
import { becomeStateOwner } from './state-owner.js';
import { VERSION } from '../util/version.js';
// Subcommands are imported when used: the SSH forced command runs once per request and
// must not pay for loading the daemon, the ssh2 server or the build code.

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, parserSpec());
  if (args.flags.has('version')) {
    process.stdout.write(`pocketbuild ${VERSION}\n`);
    return ExitCode.ok;
  }
  const [cmd, ...rest] = args.positional;
  const asked = args.flags.has('help') || args.flags.has('h');
  if (!cmd || cmd === 'help' || asked) {
    // `help COMMAND` and `COMMAND --help` give that command's text; bare `help`/`--help` all.
    const about = cmd === 'help' ? (rest[0] ?? (asked ? 'help' : undefined)) : cmd;
    if (about !== undefined && !isCommand(about))
      throw new UsageError(`unknown command "${about}"; see pocketbuild --help.`);
    process.stdout.write(about ? commandHelp(about) : mainHelp());
    return cmd || asked ? ExitCode.ok : ExitCode.usage;
  }
  const json = args.flags.has('json');
  // Who asked, before a root caller becomes the state's owner below.
  const principal = localPrincipal();
  const config = (): Config => {
    const c = loadConfig(findConfigFile(args.flags.get('config') as string | undefined));
    if (cmd !== 'start') becomeStateOwner(c);
    return c;
  };
  const usage = () => new UsageError(usageLine(cmd as CommandName));
  const want = (n: number) => {
    if (rest.length !== n) throw usage();
  };
  if (isSharedVerb(cmd)) return runShared(config(), principal, [cmd, ...rest], args);
  switch (cmd) {
    case 'daemon':
      want(0);
      return (await import('./daemon-command.js')).runDaemon(config());
    case 'init':
      want(0);
      return (await import('./init-command.js')).runInit(config());
    case 'repo':
      if (rest[0] !== 'create' || rest.length !== 2) throw usage();
      process.stdout.write(`${await (await import('./repo-command.js')).createRepo(config(), rest[1]!)}\n`);
      return ExitCode.ok;
    case 'ssh': {
      want(0);
      const principal = args.flags.get('principal');
      if (typeof principal !== 'string') throw usage();
      return (await import('./ssh-command.js')).runSshEntry(config(), principal);
    }
    case 'user': {
      const { readKeyFile, runUser } = await import('./user-command.js');
      const keyFile = args.flags.get('key') as string | undefined;
      // Read before config() makes a root caller the state's owner, who may not read root's files.
      const key = keyFile === undefined ? undefined : readKeyFile(keyFile);
      return runUser(config(), principal, rest, { key, json });
    }
    case 'doctor':
      want(0);
      return (await import('./doctor-command.js')).runDoctor(config(), json);
    case 'ssh-server':
      want(0);
      return (await import('./ssh-server-command.js')).runSshServer(config());
    case 'hook':
      if (rest.length !== 1 || (rest[0] !== 'pre-receive' && rest[0] !== 'post-receive')) throw usage();
      return (await import('./hook-command.js')).runRepoHook(config(), rest[0]);
    case 'audit': {
      const str = (k: string) => args.flags.get(k) as string | undefined;
      if (rest[0] === 'checkpoint' && rest.length === 1 && str('against') === undefined && str('key') === undefined)
        return (await import('./audit-command.js')).runAuditCheckpoint(config());
      if (rest[0] !== 'verify' || rest.length > 2) throw usage();
      if (str('key') !== undefined && str('against') === undefined)
        throw new UsageError(`--key goes with --against; ${usage().message}`);
      return (await import('./audit-command.js')).runAuditVerify(config, {
        file: rest[1],
        against: str('against'),
        key: str('key'),
      });
    }
    case 'verify': {
      const str = (k: string) => args.flags.get(k) as string | undefined;
      return (await import('./verify-command.js')).runVerify({
        targets: rest,
        key: str('key'),
        provenance: str('provenance'),
        builderId: str('builder-id'),
        configFile: str('config'),
        json,
      });
    }
    case 'rebuild':
      want(1);
      return (await import('./rebuild-command.js')).runRebuild(config(), rest[0]!, json);
    case 'web':
      want(0);
      return (await import('./web-command.js')).runWeb(config());
    case 'release-hook':
      // No config: reprepro runs this with the publisher's environment and the key in argv.
      return (await import('./release-hook-command.js')).runReleaseHook(
        args.flags.get('key') as string | undefined,
        rest,
      );
    case 'start':
      want(0);
      return (await import('./start-command.js')).runStart(args.flags.get('config') as string | undefined);
    default:
      throw new UsageError(`unknown command "${cmd}"; see pocketbuild --help.`);
  }
}

/**
 * A verb SSH users have too: the same parser, checks, output and exit codes as over SSH (the
 * arguments become the command line the SSH grammar reads), run as the trusted local caller.
 */
async function runShared(config: Config, principal: string, words: string[], args: ParsedArgs): Promise<number> {
  const blank = words.find((w) => w === '' || /\s/.test(w));
  if (blank !== undefined)
    throw new UsageError(`argument ${JSON.stringify(blank)} is empty or has blanks; no name or id has any`);
  const flags = (['json', 'follow'] as const).filter((f) => args.flags.has(f)).map((f) => `--${f}`);
  const { runCommand } = await import('../entry/run-command.js');
  return runCommand({
    config,
    principal,
    raw: [...words, ...flags].join(' '),
    io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    transport: 'local',
    logInternal: (line) => process.stderr.write(`${line}\n`),
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const known = asKnownError(e);
    if (known) {
      process.stderr.write(`pocketbuild: ${known.message}\n`);
      process.exitCode = known.exitCode;
    } else {
      // Stack traces are for the operator's terminal, not for users over SSH (the entrypoint prints one line).
      process.stderr.write(`pocketbuild: internal error: ${errorLine(e)}\n${(e as Error)?.stack ?? ''}\n`);
      process.exitCode = OUTCOMES.InternalError.exit;
    }
  },
);

export type { ParsedArgs };
