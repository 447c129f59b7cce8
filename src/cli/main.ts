#!/usr/bin/env node
import { asKnownError, errorLine, ExitCode, UsageError } from '../util/errors.js';
import { OUTCOMES } from '../util/outcomes.js';
import { findConfigFile, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { parseArgs, type ParsedArgs } from './args.js';
import { localPrincipal } from './local-principal.js';
import { becomeStateOwner } from './state-owner.js';
import { VERSION } from '../util/version.js';
// Subcommands are imported when used: the SSH forced command runs once per request and
// must not pay for loading the daemon, the ssh2 server or the build code.

const HELP = `pocketbuild: a Git-driven build queue for Debian packages

Usage: pocketbuild [--config FILE] COMMAND [ARGS]

Commands:
  submit POCKET PACKAGE COMMIT   queue a build of COMMIT (id, unique prefix, branch or tag)
                                 of PACKAGE into POCKET; prints the request id
  status [ID]                    queued, running and recent builds; or one build
  daemon                         run the build daemon in the foreground
  init                           prepare the state directory, the signing key and the
                                 builder key (provenance, audit checkpoints)
  repo create NAME               create an empty package repository NAME.git, with hooks
  ssh --principal NAME           the OpenSSH forced command: runs $SSH_ORIGINAL_COMMAND
                                 (see "help" over ssh) for principal NAME
  ssh-server                     run the embedded SSH server in the foreground
  hook pre-receive|post-receive  called by package repositories' git hooks
  audit verify [--against MBOX [--key PUB]] [FILE]
                                 check the audit log's hash chain (default <state_dir>/audit.log);
                                 exit 1 naming the first bad entry. With --against, also check
                                 it against every signed checkpoint mailed into MBOX (key:
                                 default <state_dir>/keys/builder.pub); exit 1 on a bad
                                 signature, a rewritten history or a truncated log
  audit checkpoint               print the audit log's current signed checkpoint, between
                                 markers, for mailing as a heartbeat
  verify [--key PUB] [--provenance PATH] [--builder-id ID] FILE|SHA256...
                                 find the build that made each file (a .deb, .dsc...) from
                                 its signed provenance; print who asked, which commit, which
                                 inputs and where the log is; exit 1 on any mismatch. On
                                 another machine give the builder.pub and provenance/ that
                                 the repository publishes
  rebuild ID                     build ID again from its recorded inputs (same commit, base
                                 image and .debs) and compare the outputs' sha256; exit 1
                                 naming the files that differ
  web                            serve the APT repository over HTTP at /apt/ (config: web)
  release-hook --key FPR RELEASE INRELEASE RELEASE.GPG
                                 run by reprepro to sign a suite's Release (conf/distributions
                                 SignWith); adds the by-hash indices first
  start                          set up everything and run the daemon, the SSH server and the
                                 web server (what "npm start" does)
  help                           this text

Options:
  --config FILE   the configuration (default: $POCKETBUILD_CONFIG, ./config.yml,
                  /etc/pocketbuild/config.yml)
  --json          machine-readable output (submit, status, verify, rebuild)
  --help          this text; --version the version

Exit codes: 0 ok, 1 failed, 2 usage, 3 denied, 4 not found, 5 conflict, 6 config, 70 internal.
`;

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ['config', 'principal', 'key', 'provenance', 'builder-id', 'against'],
    flags: ['json', 'help', 'version', 'h'],
  });
  if (args.flags.has('version')) {
    process.stdout.write(`pocketbuild ${VERSION}\n`);
    return ExitCode.ok;
  }
  const [cmd, ...rest] = args.positional;
  if (!cmd || cmd === 'help' || args.flags.has('help') || args.flags.has('h')) {
    process.stdout.write(HELP);
    return cmd || args.flags.has('help') || args.flags.has('h') ? ExitCode.ok : ExitCode.usage;
  }
  const json = args.flags.has('json');
  // Who asked, before a root caller becomes the state's owner below.
  const principal = localPrincipal();
  const config = (): Config => {
    const c = loadConfig(findConfigFile(args.flags.get('config') as string | undefined));
    if (cmd !== 'start') becomeStateOwner(c);
    return c;
  };
  const want = (n: number, usage: string) => {
    if (rest.length !== n) throw new UsageError(`usage: pocketbuild ${usage}`);
  };
  switch (cmd) {
    case 'submit': {
      want(3, 'submit POCKET PACKAGE COMMIT');
      const [pocket, pkg, commit] = rest as [string, string, string];
      const { runLocalSubmit } = await import('./submit-command.js');
      const req = await runLocalSubmit(config(), { pocket, package: pkg, commit, principal });
      process.stdout.write(json ? JSON.stringify(req) + '\n' : `${req.id}\n`);
      return ExitCode.ok;
    }
    case 'status':
      return status(config(), rest, json);
    case 'daemon':
      want(0, 'daemon');
      return (await import('./daemon-command.js')).runDaemon(config());
    case 'init':
      want(0, 'init');
      return (await import('./init-command.js')).runInit(config());
    case 'repo':
      if (rest[0] !== 'create' || rest.length !== 2) throw new UsageError('usage: pocketbuild repo create NAME');
      process.stdout.write(`${await (await import('./repo-command.js')).createRepo(config(), rest[1]!)}\n`);
      return ExitCode.ok;
    case 'ssh': {
      want(0, 'ssh --principal NAME');
      const principal = args.flags.get('principal');
      if (typeof principal !== 'string')
        throw new UsageError(
          'usage: pocketbuild ssh --principal NAME (in authorized_keys: command="pocketbuild ssh --principal alice",restrict ssh-ed25519 …)',
        );
      return (await import('./ssh-command.js')).runSshEntry(config(), principal);
    }
    case 'ssh-server':
      want(0, 'ssh-server');
      return (await import('./ssh-server-command.js')).runSshServer(config());
    case 'hook':
      if (rest.length !== 1 || (rest[0] !== 'pre-receive' && rest[0] !== 'post-receive'))
        throw new UsageError('usage: pocketbuild hook pre-receive|post-receive');
      return (await import('./hook-command.js')).runRepoHook(config(), rest[0]);
    case 'audit': {
      const usage = 'usage: pocketbuild audit verify [--against MBOX [--key PUB]] [FILE] | audit checkpoint';
      const str = (k: string) => args.flags.get(k) as string | undefined;
      if (rest[0] === 'checkpoint' && rest.length === 1 && str('against') === undefined && str('key') === undefined)
        return (await import('./audit-command.js')).runAuditCheckpoint(config());
      if (rest[0] !== 'verify' || rest.length > 2) throw new UsageError(usage);
      if (str('key') !== undefined && str('against') === undefined)
        throw new UsageError(`--key goes with --against; ${usage}`);
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
      want(1, 'rebuild ID');
      return (await import('./rebuild-command.js')).runRebuild(config(), rest[0]!, json);
    case 'web':
      want(0, 'web');
      return (await import('./web-command.js')).runWeb(config());
    case 'release-hook':
      // No config: reprepro runs this with the publisher's environment and the key in argv.
      return (await import('./release-hook-command.js')).runReleaseHook(
        args.flags.get('key') as string | undefined,
        rest,
      );
    case 'start':
      want(0, 'start');
      return (await import('./start-command.js')).runStart(args.flags.get('config') as string | undefined);
    default:
      throw new UsageError(`unknown command "${cmd}"; see pocketbuild --help.`);
  }
}

async function status(config: Config, rest: string[], json: boolean): Promise<number> {
  const { statusReport } = await import('../entry/format.js');
  if (rest.length > 1) throw new UsageError('usage: pocketbuild status [ID]');
  const report = await statusReport(config, rest[0]);
  if (!report) {
    process.stderr.write(`pocketbuild: no build or request ${rest[0]}\n`);
    return ExitCode.notFound;
  }
  if (json) process.stdout.write(JSON.stringify(report.json) + '\n');
  // The operator's own terminal may see where the log is; SSH users never see server paths.
  else process.stdout.write(`${report.text}${report.logFile ? `  log: ${report.logFile}\n` : ''}`);
  return ExitCode.ok;
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
