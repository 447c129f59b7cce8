import type { Writable } from 'node:stream';
import type { Config } from '../config/types.js';
import { submit } from './submit.js';
import { decide } from '../acl/index.js';
import type { AuditLog } from '../record/audit-log.js';
import { errorLine, outcomeCodeOf } from '../util/errors.js';

/** One line of a pre-/post-receive hook's stdin. */
export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

const ZERO = /^0{40}$/;

export function parseRefUpdates(text: string): RefUpdate[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [old, nu, ref] = l.trim().split(/\s+/);
      return { old: old ?? '', new: nu ?? '', ref: ref ?? '' };
    });
}

/**
 * pre-receive: pocket branches and `<pocket>/*` tags say what is published, so only the
 * builder moves them (it writes them directly, never by push). A push touching any of them
 * is refused whole, with a message the pusher sees as "remote: …".
 */
export async function checkPush(
  config: Config,
  audit: AuditLog,
  pkg: string,
  principal: string,
  updates: RefUpdate[],
  out: Writable,
): Promise<boolean> {
  const pockets = Object.keys(config.pockets);
  const bad = updates.filter((u) =>
    pockets.some((p) => u.ref === `refs/heads/${p}` || u.ref.startsWith(`refs/tags/${p}/`)),
  );
  if (!bad.length) return true;
  for (const u of bad) {
    out.write(
      `pocketbuild: refusing to update ${u.ref}: pocket branches and tags are moved only by the builder when it publishes; push to another branch and submit it.\n`,
    );
  }
  await audit.append({
    type: 'git.push.refused',
    actor: principal,
    data: {
      package: pkg,
      refs: bad.map((u) => u.ref),
      code: 'AccessDenied',
      reason: 'pocket branches and tags are moved only by the builder when it publishes.',
    },
  });
  return false;
}

/**
 * post-receive: the config's `auto_build` rules turn a pushed branch into build requests,
 * attributed to the pusher and subject to the same pocket ACL as `submit`. What was queued
 * (or why not) is printed, so it shows in the push output.
 */
export async function queueAutoBuilds(
  config: Config,
  audit: AuditLog,
  pkg: string,
  principal: string,
  updates: RefUpdate[],
  out: Writable,
): Promise<void> {
  await audit.append({
    type: 'git.push.accepted',
    actor: principal,
    data: { package: pkg, updates: updates.map((u) => ({ ref: u.ref, old: u.old, new: u.new })) },
  });
  for (const u of updates) {
    if (ZERO.test(u.new) || !u.ref.startsWith('refs/heads/')) continue;
    const branch = u.ref.slice('refs/heads/'.length);
    for (const rule of config.auto_build) {
      if (rule.branch !== branch || (rule.package !== '*' && rule.package !== pkg)) continue;
      const request = {
        origin: 'push',
        verb: 'submit',
        pocket: rule.pocket,
        package: pkg,
        commit: u.new,
        branch,
      } as const;
      const d = await decide(config, principal, { kind: 'build', pocket: rule.pocket });
      if (!d.allowed) {
        out.write(`pocketbuild: not building ${pkg} ${branch} into ${rule.pocket}: ${d.reason}\n`);
        await audit.append({
          type: 'request.refused',
          actor: principal,
          data: { ...request, code: 'AccessDenied', reason: d.reason },
        });
        continue;
      }
      let accepted: string | undefined;
      try {
        // Logged before it is queued, as for every other way in.
        const req = await submit(
          config,
          { pocket: rule.pocket, package: pkg, commit: u.new, principal, origin: 'push' },
          async (r) => {
            await audit.append({
              type: 'request.accepted',
              actor: principal,
              build: r.id,
              data: { ...request, commit: r.commit },
            });
            accepted = r.id;
          },
        );
        out.write(`pocketbuild: queued ${req.id}: ${pkg} ${u.new.slice(0, 12)} (${branch}) -> ${rule.pocket}\n`);
      } catch (e) {
        out.write(`pocketbuild: could not queue ${pkg} ${branch} into ${rule.pocket}: ${errorLine(e)}\n`);
        await audit.append({
          type: 'request.refused',
          actor: principal,
          ...(accepted ? { build: accepted } : {}),
          data: {
            ...request,
            code: outcomeCodeOf(e),
            reason: errorLine(e),
            ...(accepted ? { after: 'request.accepted' as const } : {}),
          },
        });
      }
    }
  }
}
