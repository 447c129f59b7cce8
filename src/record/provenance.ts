import type { Request } from '../queue/request.js';
import type { OutputFile } from './build-record.js';
import { IN_TOTO_PAYLOAD_TYPE, signEnvelope, verifyEnvelope, type Envelope } from './dsse.js';
import { keyId, type BuilderKey } from './builder-key.js';
import type { KeyObject } from 'node:crypto';

/**
 * Names the recipe this builder follows, as SLSA asks (buildDefinition.buildType); its
 * parameters are documented in README.md ("Provenance"). Bump the version when the meaning
 * of a parameter changes.
 */
export const BUILD_TYPE = 'https://pocketbuild.invalid/build-types/debian-source/v1';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://slsa.dev/provenance/v1';

interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: typeof PREDICATE_TYPE;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: { pocket: string; package: string; commit: string; commit_spec: string; origin: string };
      internalParameters: {
        principal: string;
        requested: string;
        source_date_epoch: number;
        build_path: string;
        sandbox: string;
        limits: Record<string, number>;
        version: string;
        deb_build_options: string;
        deb_build_profiles: string;
      };
      resolvedDependencies: ResourceDescriptor[];
    };
    runDetails: {
      builder: { id: string; version: Record<string, string> };
      metadata: { invocationId: string; startedOn: string; finishedOn: string };
      byproducts: ResourceDescriptor[];
    };
  };
}

export interface ProvenanceInput {
  req: Request;
  version: string;
  tree: string;
  sourceDateEpoch: number;
  buildPath: string;
  sandbox: string;
  limits: Record<string, number>;
  /** The DEB_BUILD_OPTIONS and DEB_BUILD_PROFILES the build ran with ('' for none). */
  debBuildOptions: string;
  debBuildProfiles: string;
  baseDigest: string;
  baseSuite: string;
  deps: Array<{ name: string; version: string; arch: string; sha256: string }>;
  outputs: OutputFile[];
  builderId: string;
  builderVersion: string;
  startedOn: string;
  finishedOn: string;
  repositoryUri: string;
}

/** The in-toto Statement with an SLSA v1 provenance predicate for one build (README.md, "Provenance, verify, rebuild"). */
export function makeStatement(p: ProvenanceInput): Statement {
  const { req } = p;
  return {
    _type: STATEMENT_TYPE,
    subject: p.outputs.map((o) => ({ name: o.file, digest: { sha256: o.sha256 } })),
    predicateType: PREDICATE_TYPE,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          pocket: req.pocket,
          package: req.package,
          commit: req.commit,
          commit_spec: req.commit_spec,
          origin: req.origin,
        },
        internalParameters: {
          principal: req.principal,
          requested: req.time,
          source_date_epoch: p.sourceDateEpoch,
          build_path: p.buildPath,
          sandbox: p.sandbox,
          limits: p.limits,
          version: p.version,
          deb_build_options: p.debBuildOptions,
          deb_build_profiles: p.debBuildProfiles,
        },
        resolvedDependencies: [
          {
            name: 'source',
            uri: `git+${p.repositoryUri}@${req.commit}`,
            digest: { gitCommit: req.commit },
            annotations: { tree: p.tree },
          },
          { name: 'base-image', uri: `pocketbuild:base/${p.baseSuite}`, digest: { sha256: p.baseDigest } },
          ...p.deps.map((d) => ({
            name: d.name,
            uri: `pkg:deb/debian/${encodeURIComponent(d.name)}@${encodeURIComponent(d.version)}?arch=${encodeURIComponent(d.arch)}`,
            digest: { sha256: d.sha256 },
          })),
        ],
      },
      runDetails: {
        builder: { id: p.builderId, version: { pocketbuild: p.builderVersion } },
        metadata: { invocationId: req.id, startedOn: p.startedOn, finishedOn: p.finishedOn },
        byproducts: [{ name: 'build.log', uri: `pocketbuild:builds/${req.id}/build.log` }],
      },
    },
  };
}

/** The statement as a signed DSSE envelope. */
export function signStatement(st: Statement, key: BuilderKey): Envelope {
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(st)), key);
}

export type ProvenanceVerdict = { ok: true; statement: Statement } | { ok: false; problem: string };

/**
 * The SLSA verification steps that need no outside knowledge: a valid signature by the
 * builder's key, then the statement and predicate types, the build type and the builder id.
 */
export function verifyProvenance(envelope: unknown, publicKey: KeyObject, builderId: string | null): ProvenanceVerdict {
  const v = verifiedStatement<Statement>(envelope, publicKey, PREDICATE_TYPE);
  if (!v.ok) return v;
  const st = v.statement;
  if (st.predicate?.buildDefinition?.buildType !== BUILD_TYPE)
    return {
      ok: false,
      problem: `build type is ${JSON.stringify(st.predicate?.buildDefinition?.buildType)}, expected ${BUILD_TYPE}`,
    };
  const id = st.predicate?.runDetails?.builder?.id;
  if (builderId !== null && id !== builderId)
    return { ok: false, problem: `builder id is ${JSON.stringify(id)}, expected ${builderId}` };
  if (!Array.isArray(st.subject) || !st.subject.every((s) => typeof s?.digest?.sha256 === 'string'))
    return { ok: false, problem: 'a subject has no sha256 digest' };
  return { ok: true, statement: st };
}

/**
 * An in-toto statement of the given predicate type, once the envelope's signature verifies
 * with the key: nothing in it is read before that.
 */
export function verifiedStatement<T extends { _type: string; predicateType: string }>(
  envelope: unknown,
  publicKey: KeyObject,
  predicateType: string,
): { ok: true; statement: T } | { ok: false; problem: string } {
  const v = verifyEnvelope(envelope, publicKey, IN_TOTO_PAYLOAD_TYPE, keyId(publicKey));
  if (!v.ok) return v;
  let st: T;
  try {
    st = JSON.parse(v.body.toString('utf8')) as T;
  } catch {
    return { ok: false, problem: 'the signed payload is not JSON' };
  }
  if (st?._type !== STATEMENT_TYPE)
    return { ok: false, problem: `statement type is ${JSON.stringify(st?._type)}, expected ${STATEMENT_TYPE}` };
  if (st.predicateType !== predicateType)
    return { ok: false, problem: `predicate type is ${JSON.stringify(st.predicateType)}, expected ${predicateType}` };
  return { ok: true, statement: st };
}

/**
 * The subjects an envelope claims, read WITHOUT checking the signature: only for finding
 * which envelope to verify, never for trusting it.
 */
export function unverifiedSubjects(envelope: unknown): string[] {
  try {
    const e = envelope as Envelope;
    const st = JSON.parse(Buffer.from(e.payload, 'base64').toString('utf8')) as Statement;
    return st.subject.map((s) => s.digest.sha256);
  } catch {
    return [];
  }
}
