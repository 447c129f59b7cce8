import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Config, PocketConfig } from '../config/types.js';
import type { Request } from '../queue/request.js';
import { decide } from '../acl/index.js';
import { isDescendant, readRef, shortOid } from '../git/resolve.js';
import { compareVersions } from '../debian/version.js';
import { sandboxProblem } from '../sandbox/index.js';
import { identifySource, type SourceIdentity } from '../steps/source-package.js';
import { PocketbuildError, Refused, UnknownPocket } from '../util/errors.js';
import { configuredPocket } from '../config/types.js';
import { BuildIndex } from '../record/build-index.js';
import { BuildRecord, type OutputFile } from '../record/build-record.js';
import { provenanceDigest } from '../record/provenance-file.js';

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
  await pocketPolicy(i, pocket, source.changelog.source, version);
  return source;
}

/**
 * The pocket's own rules for what it publishes next, for a build and a promotion alike:
 * unless it allows backtracking, the commit fast-forwards its branch and the version is newer
 * than the one it publishes.
 */
async function pocketPolicy(
  i: Pick<ValidateInput, 'req' | 'gitdir' | 'publishedVersion' | 'log'>,
  pocket: PocketConfig,
  source: string,
  version: string,
  promotion = false,
): Promise<void> {
  const { req, log } = i;
  if (pocket.allow_backtracking) {
    log.write(`policy: pocket ${pocket.name} allows backtracking; ancestry and version order are not enforced\n`);
    return;
  }
  const branch = await readRef(i.gitdir, `refs/heads/${pocket.name}`);
  const notFastForward = async () => {
    if (branch && !(await isDescendant(i.gitdir, req.commit, branch)))
      throw new Refused(
        'NotFastForward',
        `commit ${shortOid(req.commit)} does not descend from ${shortOid(branch)}, where pocket ${pocket.name} of ${req.package} stands, and ${pocket.name} does not allow backtracking; build on top of it, or use a pocket with allow_backtracking.`,
        { branch },
      );
  };
  const published = await i.publishedVersion(pocket.suite, source);
  const notNewer = () => {
    if (published && compareVersions(version, published) <= 0)
      throw new Refused(
        'VersionNotNewer',
        `${req.package} ${version} is not newer than ${published}, which pocket ${pocket.name} already publishes; ${promotion ? 'promote a newer version' : 'add a new debian/changelog entry'}.`,
        { published, version },
      );
  };
  // A promotion names a version, not a commit: an older one is refused as such.
  if (promotion) notNewer();
  await notFastForward();
  notNewer();
  log.write(
    `policy: fast-forward from ${branch ? shortOid(branch) : '(no branch yet)'}; ${version} > ${published ?? '(nothing published)'}\n`,
  );
}

/** What a promotion copies: the build that made the files FROM publishes, and what it recorded. */
export interface PromotionSource {
  from: PocketConfig;
  /** The build whose provenance signs the files (a promotion into FROM names its own build). */
  build: string;
  outputs: OutputFile[];
  provenanceSha256: string;
}

/**
 * Whether pocket TO may publish what FROM publishes of a package now, without a rebuild: the
 * policy a promotion meets at submit and again when its turn comes. TO takes promotions from
 * FROM (promote_from), the principal may build into TO, both pockets build for one Debian
 * release, FROM publishes the version (or, given none, some version), a record of the build
 * that made it is here with its outputs and provenance, and TO's own rules hold for it.
 */
export async function validatePromotion(
  i: Omit<ValidateInput, 'req'> & {
    req: Pick<Request, 'pocket' | 'package' | 'principal' | 'origin'> & { commit?: string };
  },
  from: string,
  version: string | undefined,
): Promise<PromotionSource & { version: string; commit: string }> {
  const { req, pocket: to, config } = i;
  if (!to) throw new Refused('UnknownPocket', `pocket ${req.pocket} is not in the configuration.`);
  const source = configuredPocket(config, from);
  if (!source) throw new UnknownPocket(from, Object.keys(config.pockets));
  if (!to.promote_from.includes(from))
    throw new Refused(
      'PromotionNotAllowed',
      `pocket ${to.name} does not take promotions from ${from}${to.promote_from.length ? ` (only from ${to.promote_from.join(', ')})` : ''}; an admin lists the pockets it takes from in pockets.${to.name}.promote_from.`,
      { from, to: to.name },
    );
  if (req.origin !== 'cli') {
    const d = await decide(config, req.principal, { kind: 'build', pocket: to.name });
    if (!d.allowed) throw new Refused('AccessDenied', `${d.reason}.`, { principal: req.principal });
  }
  if (!fs.existsSync(i.gitdir))
    throw new Refused('UnknownPackage', `package repository ${req.package}.git does not exist on this builder.`);
  if (source.distribution !== to.distribution)
    throw new Refused(
      'PromotionAcrossReleases',
      `pocket ${from} builds for ${source.distribution} and ${to.name} for ${to.distribution}; a build is promoted only between pockets of one Debian release, so build it for ${to.distribution} instead.`,
      { from, to: to.name },
    );
  const published = await i.publishedVersion(source.suite, req.package);
  if (!published || (version !== undefined && published !== version))
    throw new Refused(
      'NotPublished',
      published
        ? `pocket ${from} publishes ${req.package} ${published}, not ${version}; promote what it publishes.`
        : `pocket ${from} does not publish ${req.package}; build it there first.`,
      { from, published },
    );
  const made = madeBy(config.state_dir, from, req.package, published);
  if (!made)
    throw new Refused(
      'NotPublished',
      `no finished build of ${req.package} ${published} into pocket ${from} is on record here, so there is no provenance to promote it with.`,
      { from, version: published },
    );
  const commit = req.commit ?? made.commit;
  await pocketPolicy({ ...i, req: { ...req, commit } as Request }, to, req.package, published, true);
  i.log.write(`promote: ${req.package} ${published} from ${from}, built by ${made.build} from commit ${commit}\n`);
  return { ...made, from: source, version: published, commit };
}

/**
 * The build that made what pocket `from` publishes of `pkg` at `version`: the newest request
 * into `from` that ended with that version, followed back through promotions to the build.
 */
function madeBy(
  stateDir: string,
  from: string,
  pkg: string,
  version: string,
): (Omit<PromotionSource, 'from'> & { commit: string }) | null {
  const index = new BuildIndex(stateDir);
  const entry = index
    .query({ pocket: from, package: pkg, status: 'succeeded' }, 0, Number.MAX_SAFE_INTEGER)
    .items.find((e) => e.version === version);
  if (!entry) return null;
  const request = new BuildRecord(stateDir, entry.id).request();
  const build = new BuildRecord(stateDir, request?.promote?.build ?? entry.id);
  const result = build.result();
  const provenance = provenanceDigest(build);
  if (!result || result.status !== 'succeeded' || result.version !== version || !provenance) return null;
  return { build: build.id, outputs: result.outputs, provenanceSha256: provenance.sha256, commit: result.commit };
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
