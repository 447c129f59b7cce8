import fs from 'node:fs';
import path from 'node:path';
import { findConfigFile, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { builderKeyFiles, readPublicKey } from '../record/builder-key.js';
import { candidatesFor, readProvenanceFiles } from '../record/find-provenance.js';
import { verifyProvenance, type Statement } from '../record/provenance.js';
import { claimsPromotion, verifyPromotion, type PromotionStatement } from '../record/promotion.js';
import { ExitCode, NotFoundError, UsageError } from '../util/errors.js';
import { sha256File } from '../util/sha256-file.js';

export interface VerifyOptions {
  targets: string[];
  key?: string;
  provenance?: string;
  builderId?: string;
  configFile?: string;
  json: boolean;
}

interface Outcome {
  target: string;
  sha256: string;
  ok: boolean;
  problem?: string;
  provenance?: string;
  provenanceSha256?: string;
  statement?: Statement;
  /** Promotions of this build that name this file, each verified (docs/promotion.md). */
  promotions?: Array<{ file: string; statement: PromotionStatement }>;
  /** Promotion statements naming this file that did not verify: shown, not trusted. */
  promotionProblems?: string[];
}

/**
 * `pocketbuild verify FILE|SHA256...`: walk back from an output's checksum to the build that
 * made it. Needs only the builder's public key and the provenance files, so it works on
 * any machine; on the builder itself both default to what is in the state directory.
 */
export async function runVerify(o: VerifyOptions): Promise<number> {
  if (!o.targets.length)
    throw new UsageError('usage: pocketbuild verify [--key PUB] [--provenance PATH] [--builder-id ID] FILE|SHA256...');
  const config = !o.key || !o.provenance ? loadLocalConfig(o.configFile) : null;
  const keyFile = o.key ?? builderKeyFiles(config!.state_dir).pub;
  const publicKey = readPublicKey(keyFile);
  const roots = o.provenance ? [o.provenance] : [path.join(config!.state_dir, 'builds')];
  if (o.provenance && !fs.existsSync(o.provenance))
    throw new NotFoundError(
      `no provenance at ${o.provenance}; give a .intoto.jsonl file or a directory of them (the repository's provenance/).`,
    );
  const builderId = o.builderId ?? config?.builder.id ?? null;
  const files = readProvenanceFiles(roots);
  const outcomes: Outcome[] = [];
  for (const target of o.targets) outcomes.push(await verifyOne(target, files, publicKey, builderId));
  if (o.json) {
    process.stdout.write(JSON.stringify({ key: keyFile, builder_id: builderId, results: outcomes }) + '\n');
  } else {
    for (const r of outcomes) process.stdout.write(describe(r, config));
    if (builderId === null)
      process.stdout.write('note: the builder id was not checked; pass --builder-id to require one.\n');
  }
  return outcomes.every((r) => r.ok) ? ExitCode.ok : ExitCode.failure;
}

async function verifyOne(
  target: string,
  files: ReturnType<typeof readProvenanceFiles>,
  publicKey: ReturnType<typeof readPublicKey>,
  builderId: string | null,
): Promise<Outcome> {
  let sha256: string;
  if (/^[0-9a-f]{64}$/.test(target)) sha256 = target;
  else if (fs.existsSync(target)) sha256 = await sha256File(target);
  else throw new NotFoundError(`${target} is neither a file nor a sha256 (64 hex digits).`, { target });
  const claimed = candidatesFor(sha256, files);
  const candidates = claimed.filter((c) => !claimsPromotion(c.envelope));
  if (!candidates.length)
    return {
      target,
      sha256,
      ok: false,
      problem: `no provenance names sha256 ${sha256}: the file was not built here, or it was changed after it was built`,
    };
  let problem = '';
  for (const c of candidates) {
    const v = verifyProvenance(c.envelope, publicKey, builderId);
    if (v.ok && v.statement.subject.some((s) => s.digest.sha256 === sha256)) {
      const provenanceSha256 = await sha256File(c.file);
      return {
        target,
        sha256,
        ok: true,
        provenance: c.file,
        provenanceSha256,
        statement: v.statement,
        ...promotionsOf(sha256, provenanceSha256, claimed, publicKey, builderId),
      };
    }
    problem = `${c.file}: ${v.ok ? 'the signed subjects do not include this sha256' : v.problem}`;
  }
  return { target, sha256, ok: false, problem, provenance: candidates[0]!.file };
}

/**
 * The promotions of a verified build that name the file: each signed by the builder's key and
 * naming that build's provenance by its sha256. One that fails is reported, never trusted.
 */
function promotionsOf(
  sha256: string,
  provenanceSha256: string,
  claimed: ReturnType<typeof readProvenanceFiles>,
  publicKey: ReturnType<typeof readPublicKey>,
  builderId: string | null,
): Pick<Outcome, 'promotions' | 'promotionProblems'> {
  const promotions: NonNullable<Outcome['promotions']> = [];
  const promotionProblems: string[] = [];
  for (const c of claimed.filter((x) => claimsPromotion(x.envelope))) {
    const v = verifyPromotion(c.envelope, publicKey, builderId);
    if (!v.ok) promotionProblems.push(`${c.file}: ${v.problem}`);
    else if (v.statement.predicate.build.provenance.digest.sha256 !== provenanceSha256)
      continue; // another build's
    else if (!v.statement.subject.some((x) => x.digest.sha256 === sha256))
      promotionProblems.push(`${c.file}: the signed subjects do not include this sha256`);
    else promotions.push({ file: c.file, statement: v.statement });
  }
  promotions.sort((a, b) =>
    a.statement.predicate.promotion.promotedOn.localeCompare(b.statement.predicate.promotion.promotedOn),
  );
  return { promotions, ...(promotionProblems.length ? { promotionProblems } : {}) };
}

function describe(r: Outcome, config: Config | null): string {
  if (!r.ok) return `FAILED: ${r.target} (sha256 ${r.sha256}): ${r.problem}\n`;
  const st = r.statement!;
  const { externalParameters: ext, internalParameters: int, resolvedDependencies: deps } = st.predicate.buildDefinition;
  const { metadata, builder } = st.predicate.runDetails;
  const source = deps.find((d) => d.name === 'source');
  const base = deps.find((d) => d.name === 'base-image');
  const buildDeps = deps.filter((d) => d.uri?.startsWith('pkg:deb/'));
  const localLog = config ? path.join(config.state_dir, 'builds', metadata.invocationId, 'build.log') : null;
  const log =
    localLog && fs.existsSync(localLog)
      ? localLog
      : (st.predicate.runDetails.byproducts.find((b) => b.name === 'build.log')?.uri ?? '(not recorded)');
  return [
    `PASSED: ${r.target} (sha256 ${r.sha256})`,
    `  build:       ${metadata.invocationId}: ${ext.package} ${int.version} -> pocket ${ext.pocket}`,
    `  asked by:    ${int.principal} via ${ext.origin} at ${int.requested}`,
    `  commit:      ${ext.commit} (tree ${String(source?.annotations?.tree ?? '?')}), asked as "${ext.commit_spec}"`,
    `  base image:  sha256 ${base?.digest?.sha256 ?? '?'}`,
    `  build-deps:  ${buildDeps.length} .debs, each pinned by sha256 (--json lists them)`,
    `  built by:    ${builder.id} (pocketbuild ${builder.version.pocketbuild ?? '?'}) in the ${int.sandbox} sandbox, ${metadata.startedOn} -> ${metadata.finishedOn}`,
    `  log:         ${log}`,
    `  provenance:  ${r.provenance} (sha256 ${r.provenanceSha256})`,
    ...(r.promotions ?? []).map(({ file, statement }) => {
      const p = statement.predicate;
      return `  promoted:    ${p.from.pocket} -> ${p.to.pocket} by ${p.promotion.principal} via ${p.promotion.origin} at ${p.promotion.promotedOn} (request ${p.promotion.id}; ${file})`;
    }),
    ...(r.promotionProblems ?? []).map((p) => `  promotion NOT VERIFIED: ${p}`),
    '',
  ].join('\n');
}

function loadLocalConfig(file: string | undefined): Config {
  try {
    return loadConfig(findConfigFile(file));
  } catch (e) {
    throw new UsageError(
      `no builder configuration to take the key and provenance from (${(e as Error).message.replace(/\.$/, '')}); on another machine pass --key builder.pub --provenance DIR (both published beside the packages).`,
    );
  }
}
