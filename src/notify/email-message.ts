import { configuredPocket, type Config } from '../config/types.js';
import { PocketbuildError } from '../util/errors.js';
import { armorCheckpoint } from '../record/checkpoint-armor.js';
import type { Request, RequestKey } from '../queue/request.js';
import { statusAt } from './hooks.js';

/**
 * The event a hook gets on stdin (see fireHooks in ./build-hooks.ts). Only what a message
 * needs is named; when the payload changes, update README.md ("Hooks").
 */
export interface HookEventPayload {
  event: string;
  request: RequestKey & Partial<Pick<Request, 'origin' | 'time' | 'promote'>>;
  result?: { status: string; version?: string; code?: string; reason?: string; finished?: string };
  audit?: { size: number; head: string; checkpoint: string };
  provenance?: { file: string; sha256: string };
  /** The build's page on the status site (web.base_url set). */
  url?: string;
}

export interface EventMail {
  subject: string;
  text: string;
  /** X-Pocketbuild-* headers, for filters and for reading the anchor without the body. */
  headers: Record<string, string>;
}

export class BadHookInput extends PocketbuildError {
  constructor(problem: string) {
    super(
      'BadHookInput',
      `the event on stdin is not a pocketbuild hook event (${problem}); hooks are run by the daemon, or given its JSON by hand.`,
    );
  }
}

/** Who gets one event's mail: the pocket's notify list, then the audit addresses, each once. */
export function recipients(config: Config, e: HookEventPayload): string[] {
  return [...new Set([...(configuredPocket(config, e.request.pocket)?.notify ?? []), ...config.mail.audit_to])];
}

/** Check and type the JSON a hook read from stdin. */
export function parseHookEvent(input: string): HookEventPayload {
  let e: unknown;
  try {
    e = JSON.parse(input);
  } catch {
    throw new BadHookInput('not JSON');
  }
  const o = e as Partial<HookEventPayload> | null;
  if (typeof o !== 'object' || o === null || typeof o.event !== 'string') throw new BadHookInput('no "event"');
  const r = o.request;
  for (const k of ['id', 'pocket', 'package', 'commit', 'principal'] as const) {
    if (typeof r?.[k] !== 'string') throw new BadHookInput(`no "request.${k}"`);
  }
  if (
    o.audit !== undefined &&
    (typeof o.audit.size !== 'number' || typeof o.audit.head !== 'string' || typeof o.audit.checkpoint !== 'string')
  ) {
    throw new BadHookInput('"audit" is not {size, head, checkpoint}');
  }
  return o as HookEventPayload;
}

/**
 * One plain-text message for one event. Everything a reader (or a later audit) needs is in
 * the body; the audit anchor is also in headers. The signed checkpoint goes between markers
 * so `audit verify --against` finds it whatever encoding the mail system picks.
 */
export function composeEventMail(e: HookEventPayload): EventMail {
  const r = e.request;
  const status = statusAt(e.event, e.result);
  const version = e.result?.version || r.promote?.version || '';
  const what = `${r.package} ${version || r.commit.slice(0, 12)}`;
  // What the subject and first line say happened: a promotion names where it came from.
  const said = e.event === 'promoted' && r.promote ? `promoted from ${r.promote.from}` : status;
  const rows: Array<[string, string]> = [
    ['build', r.id],
    ['event', e.event],
    ['pocket', r.pocket],
    ['package', r.package],
    ['version', version || '(not known yet)'],
    ['commit', r.commit],
    ['principal', r.principal],
    ['status', status],
  ];
  if (r.promote) rows.push(['promotion', `from ${r.promote.from}, the files of build ${r.promote.build}`]);
  if (e.result?.code) rows.push(['code', e.result.code]);
  if (e.result?.reason) rows.push(['reason', oneLine(e.result.reason)]);
  if (e.url) rows.push(['web', e.url]);
  rows.push(['provenance', e.provenance ? `sha256:${e.provenance.sha256} (${e.provenance.file})` : '(none yet)']);
  rows.push([
    'audit log',
    e.audit ? `${e.audit.size} ${e.audit.size === 1 ? 'entry' : 'entries'}, chain head ${e.audit.head}` : '(not given)',
  ]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const table = rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n');

  const anchor = e.audit
    ? [
        "The builder's signed checkpoint of its audit log, as of this event. Keep this mail:",
        'history rewritten on the builder later will disagree with it, which',
        '`pocketbuild audit verify --against MBOX` (the mailbox this was saved in) shows.',
        '',
        armorCheckpoint(e.audit.checkpoint),
      ].join('\n')
    : 'This event carried no audit checkpoint.\n';

  const headers: Record<string, string> = {
    'X-Pocketbuild-Build': r.id,
    'X-Pocketbuild-Event': e.event,
    'X-Pocketbuild-Pocket': r.pocket,
    'X-Pocketbuild-Status': status,
  };
  if (e.audit) {
    headers['X-Pocketbuild-Audit-Size'] = String(e.audit.size);
    headers['X-Pocketbuild-Audit-Head'] = e.audit.head;
  }
  if (e.provenance) headers['X-Pocketbuild-Provenance-Sha256'] = e.provenance.sha256;

  return {
    subject: `[pocketbuild] ${what} -> ${r.pocket}: ${said} (${r.id})`,
    text: `${what} -> ${r.pocket}: ${said}\n\n${table}\n\n${anchor}`,
    headers,
  };
}

/** A reason is one sentence, but it came from a build: keep the table one line per row. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
