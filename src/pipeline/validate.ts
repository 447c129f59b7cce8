import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Config, PocketConfig } from '../config/types.js';
import type { Request } from '../queue/request.js';
import { decide } from '../acl/index.js';
import { isDescendant, readRef, shortOid } from '../git/resolve.js';
import { compareVersions } from '../debian/version.js';
import { sandboxProblem } from '../sandbox/index.js';
import { identifySource, type SourceIdentity } from '../steps/source-package.js';
import { PocketbuildError, Refused } from '../util/errors.js';

export interface ValidateInput {
  config: Config;
  req: Request;
  /** Undefined when the pocket left the configuration after the request was accepted. */
  pocket: PocketConfig | undefined;
  gitdir: string;
  publishedVersion: (suite: string, source: string) => Promise<string | null>;
  log: Writable;
}

/**
 * The policy a request must still meet when its turn comes, since the configuration and the
 * repository may have changed since it was accepted: the pocket and package exist, the
 * submitter may still build there, and (unless the pocket allows backtracking) the commit
 * fast-forwards the pocket's branch and its version is newer than what the pocket publishes.
 */
export async function validateRequest(i: ValidateInput): Promise<SourceIdentity> {
  const { req, pocket, log } = i;
  if (!pocket) throw new Refused('UnknownPocket', `pocket ${req.pocket} is no longer in the configuration.`);
  const sandboxMissing = sandboxProblem(pocket.sandbox);
  if (sandboxMissing)
    throw new PocketbuildError(
      'SandboxUnavailable',
      `pocket ${req.pocket} asks for the ${pocket.sandbox} sandbox, but ${sandboxMissing}`,
    );
  // Requests from the local CLI come from whoever can write the queue directly, so they are not re-checked.
  if (req.origin !== 'cli') {
    const d = await decide(i.config, req.principal, { kind: 'build', pocket: req.pocket });
    if (!d.allowed)
      throw new Refused('AccessDenied', `${d.reason}; the ACL changed after the request was accepted.`, {
        principal: req.principal,
      });
  }
  if (!fs.existsSync(i.gitdir))
    throw new Refused('UnknownPackage', `package repository ${req.package}.git no longer exists on this builder.`);
  const source = await identifySource(i.gitdir, req.commit, req.package);
  const version = source.changelog.version;
  log.write(`source: ${source.changelog.source} ${version}, ${source.format}, commit ${req.commit}\n`);
  await refuseVersionOfOtherRelease(i, pocket, source);
  if (pocket.allow_backtracking) {
    log.write(`policy: pocket ${pocket.name} allows backtracking; ancestry and version order are not enforced\n`);
    return source;
  }
  const branch = await readRef(i.gitdir, `refs/heads/${pocket.name}`);
  if (branch && !(await isDescendant(i.gitdir, req.commit, branch))) {
    throw new Refused(
      'NotFastForward',
      `commit ${shortOid(req.commit)} does not descend from ${shortOid(branch)}, where pocket ${pocket.name} of ${req.package} stands, and ${pocket.name} does not allow backtracking; build on top of it, or use a pocket with allow_backtracking.`,
      { branch },
    );
  }
  const published = await i.publishedVersion(pocket.suite, source.changelog.source);
  if (published && compareVersions(version, published) <= 0) {
    throw new Refused(
      'VersionNotNewer',
      `${req.package} ${version} is not newer than ${published}, which pocket ${pocket.name} already publishes; add a new debian/changelog entry.`,
      { published, version },
    );
  }
  log.write(
    `policy: fast-forward from ${branch ? shortOid(branch) : '(no branch yet)'}; ${version} > ${published ?? '(nothing published)'}\n`,
  );
  return source;
}

/**
 * The pool keeps one file per name for all suites, so a version built for one Debian release
 * cannot also be published for another: its files would have the same names and other
 * contents. As with Debian's backports, a build for another release needs its own version.
 */
async function refuseVersionOfOtherRelease(i: ValidateInput, pocket: PocketConfig, source: SourceIdentity) {
  const { version, source: name } = source.changelog;
  const others = Object.values(i.config.pockets).filter((p) => p.distribution !== pocket.distribution);
  if (!others.length) return;
  for (const other of others) {
    if ((await i.publishedVersion(other.suite, name)) !== version) continue;
    throw new Refused(
      'VersionOfOtherRelease',
      `${name} ${version} is already published for ${other.distribution} by pocket ${other.name}, and a version is published for one Debian release only; give the ${pocket.distribution} build a version of its own, as Debian's backports do (${version}~${pocket.distribution}1, say).`,
      { pocket: other.name, distribution: other.distribution, version },
    );
  }
  i.log.write(`policy: ${name} ${version} is published for no release other than ${pocket.distribution}\n`);
}
