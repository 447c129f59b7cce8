import fs from 'node:fs';
import { buildUrl, type Config } from '../config/types.js';
import { parseCommand, verbHelp, VERBS_HELP, type Command } from './grammar.js';
import type { SessionIO, Transport } from './session-io.js';
import { submitBatch } from './submit.js';
import { removePackage, submitPromotion } from './promote.js';
import type { Request } from '../queue/request.js';
import { buildStatus, collectStatus, type StatusRow } from '../record/status-view.js';
import { formatRows, statusReport } from './format.js';
import { followLog } from './follow-log.js';
import { cancelRequest } from './cancel.js';
import { serveGit } from './git-transport.js';
import { AuditLog } from '../record/audit-log.js';
import type { RequestAccepted } from '../record/audit-entries.js';
import { provenanceDigest } from '../record/provenance-file.js';
import { BuildRecord } from '../record/build-record.js';
import { decide, requireRight } from '../acl/index.js';
import { asKnownError, errorLine, ExitCode, NotFoundError, outcomeCodeOf } from '../util/errors.js';
import { outcome } from '../util/outcomes.js';

export interface RunCommandOptions {
  config: Config;
  principal: string;
  /** Exactly what the user typed (SSH_ORIGINAL_COMMAND, the embedded server's exec request, the CLI's arguments). */
  raw: string;
  io: SessionIO;
  transport: Transport;
  signal?: AbortSignal;
  /** Where internal errors' stack traces go (the server's log); never the user's channel. */
  logInternal?: (line: string) => void;
}

/**
 * One command, from raw text to exit code: parse strictly, check rights, act, answer. The
 * SSH verbs and the local CLI's are this one function, so their output, exit codes and
 * --json cannot drift apart; the local CLI differs only in being trusted (the operator's own
 * account acts as an admin who may build anywhere) and in showing server paths.
 * Every accept and every refusal, with the raw command, is in the audit log. Users get one
 * line on stderr for any refusal; stack traces never go down the channel.
 */
export async function runCommand(o: RunCommandOptions): Promise<number> {
  const audit = new AuditLog(o.config.state_dir);
  const base = requestBase(o);
  let cmd: Command | undefined;
  const submitted: Submitted = {};
  try {
    cmd = parseCommand(o.raw);
    const out = await execute(o, cmd, audit, submitted);
    if (!out.audited)
      await audit.append({
        type: 'request.accepted',
        actor: o.principal,
        ...(out.build ? { build: out.build } : {}),
        data: { ...base, verb: cmd.verb, ...commandFields(cmd), ...out.data },
      });
    return out.code;
  } catch (e) {
    const known = asKnownError(e);
    const line = known ? known.message : 'internal error; the operator can find details in the server log.';
    if (!known)
      o.logInternal?.(
        `internal error for ${o.principal} running ${JSON.stringify(o.raw)}: ${(e as Error)?.stack ?? e}`,
      );
    o.io.stderr.write(`pocketbuild: ${line.replace(/[\r\n]+/g, ' ')}\n`);
    await audit
      .append({
        type: 'request.refused',
        actor: o.principal,
        ...(submitted.accepted ? { build: submitted.accepted } : {}),
        data: {
          ...base,
          verb: cmd?.verb ?? null,
          ...(cmd ? commandFields(cmd) : {}),
          code: outcomeCodeOf(e),
          reason: known ? known.message : errorLine(e),
          ...(submitted.accepted ? { after: 'request.accepted' as const } : {}),
        },
      })
      .catch((err) => o.logInternal?.(`audit append failed: ${errorLine(err)}`));
    return outcome(outcomeCodeOf(e)).exit;
  }
}

/** The fields every audit entry of this command starts with: which way it came in, and what was typed. */
function requestBase(o: RunCommandOptions): Pick<RequestAccepted, 'origin' | 'raw' | 'transport'> {
  return o.transport === 'local'
    ? { origin: 'cli', raw: o.raw }
    : { origin: 'ssh', raw: o.raw, transport: o.transport };
}

/** The pocket and package a parsed command names, for its audit entry whether accepted or refused. */
function commandFields(cmd: Command): Pick<RequestAccepted, 'pocket' | 'package' | 'promote_from'> {
  switch (cmd.verb) {
    case 'submit':
    case 'remove':
      return { pocket: cmd.pocket, package: cmd.package };
    case 'promote':
      return { pocket: cmd.to, package: cmd.package, promote_from: cmd.from };
    case 'history':
      return cmd.package ? { package: cmd.package } : {};
    case 'git-receive-pack':
    case 'git-upload-pack':
      return { package: cmd.package };
    default:
      return {};
  }
}

/** Set once a submit's request.accepted is written, so that a failure to queue it afterwards names it. */
interface Submitted {
  accepted?: string;
}

interface Outcome {
  code: number;
  build?: string;
  data?: Pick<RequestAccepted, 'state' | 'git_exit'>;
  /** The command wrote its own request.accepted entry (a submit logs it before queueing). */
  audited?: boolean;
}

async function execute(o: RunCommandOptions, cmd: Command, audit: AuditLog, submitted: Submitted): Promise<Outcome> {
  const { config, principal, io } = o;
  const local = o.transport === 'local';
  const base = requestBase(o);
  const isAdmin = async () => local || (await decide(config, principal, { kind: 'admin' })).allowed;
  const print = (json: boolean, value: unknown, text: string) =>
    io.stdout.write(json ? JSON.stringify(value) + '\n' : text);
  // Logged before it is queued: a request the audit log cannot take is not queued.
  const accept = (verb: 'submit' | 'promote') => async (r: Request) => {
    await audit.append({
      type: 'request.accepted',
      actor: principal,
      build: r.id,
      data: {
        ...base,
        verb,
        pocket: r.pocket,
        package: r.package,
        commit: r.commit,
        ...(r.after ? { after_builds: r.after } : {}),
        ...(r.promote ? { promote_from: r.promote.from, version: r.promote.version } : {}),
      },
    });
    submitted.accepted = r.id;
  };
  // stdout stays the ids alone, for scripts; people get the page to watch.
  const followAt = (r: Request, what: string) => {
    const url = buildUrl(config, r.id);
    if (url) io.stderr.write(`pocketbuild: follow ${what} at ${url}\n`);
  };
  switch (cmd.verb) {
    case 'help':
      io.stdout.write(cmd.about ? verbHelp(cmd.about) : VERBS_HELP);
      return { code: ExitCode.ok };
    case 'whoami': {
      const pockets: string[] = [];
      for (const p of Object.keys(config.pockets))
        if (local || (await decide(config, principal, { kind: 'build', pocket: p })).allowed) pockets.push(p);
      const admin = await isAdmin();
      print(
        cmd.json,
        { principal, pockets, admin },
        `${principal}\n  may build into: ${pockets.join(', ') || '(none)'}\n  admin: ${admin ? 'yes' : 'no'}\n`,
      );
      return { code: ExitCode.ok };
    }
    case 'submit': {
      if (!local) await requireRight(config, principal, { kind: 'build', pocket: cmd.pocket });
      const items = cmd.batch ?? [{ package: cmd.package, commit: cmd.commit }];
      const reqs = await submitBatch(
        config,
        { pocket: cmd.pocket, items, principal, origin: base.origin },
        accept('submit'),
      );
      if (cmd.batch) {
        // One line per request, in the order they build: "ID PACKAGE [after ID...]".
        const line = (r: Request) => `${r.id} ${r.package}${r.after ? ` after ${r.after.join(' ')}` : ''}\n`;
        print(cmd.json, reqs, reqs.map(line).join(''));
      } else print(cmd.json, reqs[0], `${reqs[0]!.id}\n`);
      if (!cmd.json) for (const r of reqs) followAt(r, cmd.batch ? r.package : 'it');
      return { code: ExitCode.ok, build: reqs.at(-1)!.id, audited: true };
    }
    case 'promote': {
      if (!local) await requireRight(config, principal, { kind: 'build', pocket: cmd.to });
      const req = await submitPromotion(config, { ...cmd, principal, origin: base.origin }, accept('promote'));
      print(cmd.json, req, `${req.id}\n`);
      if (!cmd.json) followAt(req, 'it');
      return { code: ExitCode.ok, build: req.id, audited: true };
    }
    case 'remove': {
      if (!local) await requireRight(config, principal, { kind: 'admin' });
      const { version, branch } = await removePackage(config, cmd.package, cmd.pocket);
      await audit.append({
        type: 'request.accepted',
        actor: principal,
        data: { ...base, verb: 'remove', pocket: cmd.pocket, package: cmd.package, version },
      });
      if (branch)
        await audit.append({
          type: 'ref.moved',
          actor: principal,
          data: { package: cmd.package, ref: `refs/heads/${cmd.pocket}`, from: branch, to: null },
        });
      print(
        cmd.json,
        { package: cmd.package, pocket: cmd.pocket, version },
        `${cmd.package} ${version} is no longer in ${cmd.pocket}\n`,
      );
      return { code: ExitCode.ok, audited: true };
    }
    case 'status': {
      const report = await statusReport(config, cmd.id);
      if (!report) throw new NotFoundError(`no build or request ${cmd.id}.`, { id: cmd.id });
      // The operator's own terminal may see where the log is; SSH users never see server paths.
      const where = local && report.logFile ? `  log: ${report.logFile}\n` : '';
      print(cmd.json, report.json, report.text + where);
      return { code: ExitCode.ok, ...(cmd.id ? { build: cmd.id } : {}) };
    }
    case 'queue': {
      const st = await collectStatus(config, 0);
      print(cmd.json, st.active, formatRows(st.active));
      return { code: ExitCode.ok };
    }
    case 'history': {
      const st = await collectStatus(config, 50, cmd.package);
      print(cmd.json, st.recent, formatRows(st.recent));
      return { code: ExitCode.ok };
    }
    case 'log': {
      if (!local) await requireReadable(config, principal, cmd.id);
      await followLog(config, cmd.id, io.stdout, cmd.follow, o.signal);
      return { code: ExitCode.ok, build: cmd.id };
    }
    case 'show': {
      if (!local) await requireReadable(config, principal, cmd.id);
      const rec = new BuildRecord(config.state_dir, cmd.id);
      const prov = provenanceDigest(rec);
      // The envelope itself, so a user can keep it and run `pocketbuild verify` elsewhere.
      // The log's path only on the builder itself: over SSH, `log ID` is the way to it.
      const shown = {
        request: rec.request(),
        result: rec.result(),
        ...(local ? { log: rec.logFile } : {}),
        provenance: prov
          ? { sha256: prov.sha256, envelope: JSON.parse(fs.readFileSync(prov.file, 'utf8')) as unknown }
          : null,
      };
      print(cmd.json, shown, JSON.stringify(shown, null, 2) + '\n');
      return { code: ExitCode.ok, build: cmd.id };
    }
    case 'cancel': {
      const state = await cancelRequest(config, audit, cmd.id, principal, await isAdmin());
      print(
        cmd.json,
        { id: cmd.id, state },
        state === 'queued'
          ? `${cmd.id} will not be built; the daemon records it cancelled\n`
          : `${cmd.id} is running; its daemon is stopping it\n`,
      );
      return { code: ExitCode.ok, build: cmd.id, data: { state } };
    }
    case 'git-receive-pack':
    case 'git-upload-pack': {
      await requireRight(config, principal, {
        kind: cmd.verb === 'git-receive-pack' ? 'push' : 'read',
        package: cmd.package,
      });
      const code = await serveGit(config, cmd.verb, cmd.package, principal, io, o.signal);
      return { code, data: { git_exit: code } };
    }
  }
}

/** Logs and records: the submitter, admins, and whoever may build into the build's pocket. */
async function requireReadable(config: Config, principal: string, id: string): Promise<StatusRow | void> {
  const rec = new BuildRecord(config.state_dir, id);
  const req = rec.request() ?? (await buildStatus(config, id))?.row;
  if (!req) throw new NotFoundError(`no build or request ${id}.`, { id });
  if (req.principal === principal) return;
  if ((await decide(config, principal, { kind: 'admin' })).allowed) return;
  await requireRight(config, principal, { kind: 'build', pocket: req.pocket });
}
