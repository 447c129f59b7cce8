import fs from 'node:fs';
import path from 'node:path';
import { configuredPocket } from '../config/types.js';
import { exportedFiles, exportedVersion } from '../publish/exported-index.js';
import { publishedFiles } from '../publish/publish-build.js';
import { ensureBuilderKey } from '../record/builder-key.js';
import { BuildRecord } from '../record/build-record.js';
import { makePromotionStatement, signPromotion } from '../record/promotion.js';
import { provenanceDigest, provenancePath } from '../record/provenance-file.js';
import { PocketbuildError, Refused } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { sha256File } from '../util/sha256-file.js';
import { VERSION } from '../util/version.js';
import type { BuildEnvironment, BuildState } from './build-state.js';
import { validatePromotion } from './validate.js';

/*
 * The steps of a promotion (docs/promotion.md) before its publish: nothing is built; the
 * files the original build recorded are checked, kept in this request's record, and signed
 * for with a promotion statement. publish and refs are a build's own steps.
 */

/** What was checked at submit, checked again now: FROM still publishes what was asked, from the same build. */
export async function validatePromotionStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const promote = s.req.promote!;
  const found = await validatePromotion(
    {
      config: env.config,
      req: s.req,
      pocket: configuredPocket(env.config, s.req.pocket),
      gitdir: s.gitdir,
      publishedVersion: (suite, source) =>
        env.config.daemon.publish
          ? env.repo.publishedVersion(suite, source)
          : Promise.resolve(exportedVersion(env.repo.dir, suite, source)),
      log: s.log,
    },
    promote.from,
    promote.version,
  );
  if (found.build !== promote.build || found.commit !== s.req.commit)
    throw new Refused(
      'NotPublished',
      `pocket ${promote.from} now publishes ${s.req.package} ${promote.version} as built by ${found.build}, not by ${promote.build} as when the promotion was asked; ask again.`,
      { build: found.build },
    );
  s.promotion = found;
}

/**
 * The files to promote, taken from the original build's record into this one (what `show`,
 * the result and a resumed publish read), each checked against the sha256 the build recorded;
 * the ones in the pool are checked there too, and in FROM's indices as apt clients read them.
 */
export async function collectStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const p = s.promotion!;
  const original = new BuildRecord(env.config.state_dir, p.build);
  const differ = (file: string, where: string): never => {
    throw new PocketbuildError(
      'PromotedFilesDiffer',
      `${file} ${where} does not have the sha256 build ${p.build} recorded; nothing was promoted.`,
      { file },
    );
  };
  fs.rmSync(s.record.outputsDir, { recursive: true, force: true });
  fs.mkdirSync(s.record.outputsDir, { recursive: true });
  for (const o of p.outputs) {
    const kept = path.join(s.record.outputsDir, o.file);
    fs.copyFileSync(path.join(original.outputsDir, o.file), kept);
    if ((await sha256File(kept)) !== o.sha256) differ(o.file, `in the record of build ${p.build}`);
  }
  const listed = exportedFiles(env.repo.dir, p.from.suite, s.req.package, p.version);
  for (const o of publishedFiles(p.outputs)) {
    if ((await sha256File(env.repo.poolFile(s.req.package, o.file))) !== o.sha256) differ(o.file, 'in the pool');
    if (listed.get(o.file) !== o.sha256) differ(o.file, `as suite ${p.from.suite} lists it`);
    s.log.write(`  ${o.sha256}  ${o.file}: as recorded, in the pool and in ${p.from.suite}\n`);
  }
  const changes = p.outputs.find((o) => o.file.endsWith('.changes'));
  s.outputs = { changes: changes?.file ?? '', files: p.outputs };
}

/** The signed promotion statement, kept where a build keeps its provenance (this request's signed record). */
export async function attestStep(s: BuildState, env: BuildEnvironment): Promise<void> {
  const p = s.promotion!;
  const statement = makePromotionStatement({
    req: { ...s.req, promote: s.req.promote! },
    from: { pocket: p.from.name, suite: p.from.suite },
    to: { pocket: s.pocket.name, suite: s.pocket.suite },
    outputs: p.outputs,
    provenanceSha256: p.provenanceSha256,
    builderId: env.config.builder.id,
    builderVersion: VERSION,
  });
  writeFileAtomic(
    provenancePath(s.record),
    JSON.stringify(signPromotion(statement, ensureBuilderKey(env.config.state_dir))) + '\n',
  );
  s.log.write(
    `attest: promotion of ${p.outputs.length} files, naming build ${p.build}'s provenance (sha256 ${p.provenanceSha256}), sha256 ${provenanceDigest(s.record)!.sha256}\n`,
  );
}
