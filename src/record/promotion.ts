import type { KeyObject } from 'node:crypto';
import type { Request } from '../queue/request.js';
import type { OutputFile } from './build-record.js';
import type { BuilderKey } from './builder-key.js';
import { IN_TOTO_PAYLOAD_TYPE, signEnvelope, type Envelope } from './dsse.js';
import { STATEMENT_TYPE, verifiedStatement } from './provenance.js';

/**
 * What a promotion signs (docs/promotion.md): these files, built by that build (its
 * provenance named by digest), were published in pocket `to` as pocket `from` published
 * them, at someone's request. Bump the version when the meaning of a field changes.
 */
export const PROMOTION_TYPE = 'https://pocketbuild.invalid/promotion/v1';

export interface PromotionStatement {
  _type: typeof STATEMENT_TYPE;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: typeof PROMOTION_TYPE;
  predicate: {
    package: string;
    version: string;
    commit: string;
    from: { pocket: string; suite: string };
    to: { pocket: string; suite: string };
    /** The build whose provenance signs these files, and that provenance's sha256. */
    build: { id: string; provenance: { uri: string; digest: { sha256: string } } };
    promotion: {
      id: string;
      principal: string;
      origin: string;
      requested: string;
      promotedOn: string;
    };
    builder: { id: string; version: string };
  };
}

export interface PromotionInput {
  req: Request & { promote: NonNullable<Request['promote']> };
  from: { pocket: string; suite: string };
  to: { pocket: string; suite: string };
  outputs: OutputFile[];
  provenanceSha256: string;
  builderId: string;
  builderVersion: string;
}

export function makePromotionStatement(p: PromotionInput): PromotionStatement {
  const { req } = p;
  return {
    _type: STATEMENT_TYPE,
    subject: p.outputs.map((o) => ({ name: o.file, digest: { sha256: o.sha256 } })),
    predicateType: PROMOTION_TYPE,
    predicate: {
      package: req.package,
      version: req.promote.version,
      commit: req.commit,
      from: p.from,
      to: p.to,
      build: {
        id: req.promote.build,
        provenance: {
          uri: `pocketbuild:builds/${req.promote.build}/provenance.intoto.jsonl`,
          digest: { sha256: p.provenanceSha256 },
        },
      },
      promotion: {
        id: req.id,
        principal: req.principal,
        origin: req.origin,
        requested: req.time,
        promotedOn: new Date().toISOString(),
      },
      builder: { id: p.builderId, version: p.builderVersion },
    },
  };
}

export function signPromotion(st: PromotionStatement, key: BuilderKey): Envelope {
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(st)), key);
}

/** Whether an envelope claims to be a promotion, read WITHOUT checking it: only to sort envelopes. */
export function claimsPromotion(envelope: unknown): boolean {
  try {
    const st = JSON.parse(Buffer.from((envelope as Envelope).payload, 'base64').toString('utf8')) as {
      predicateType?: unknown;
    };
    return st.predicateType === PROMOTION_TYPE;
  } catch {
    return false;
  }
}

export type PromotionVerdict = { ok: true; statement: PromotionStatement } | { ok: false; problem: string };

/** A valid signature by the builder's key, the statement and predicate types, the builder id. */
export function verifyPromotion(envelope: unknown, publicKey: KeyObject, builderId: string | null): PromotionVerdict {
  const v = verifiedStatement<PromotionStatement>(envelope, publicKey, PROMOTION_TYPE);
  if (!v.ok) return v;
  const st = v.statement;
  const id = st.predicate?.builder?.id;
  if (builderId !== null && id !== builderId)
    return { ok: false, problem: `builder id is ${JSON.stringify(id)}, expected ${builderId}` };
  if (typeof st.predicate?.build?.provenance?.digest?.sha256 !== 'string')
    return { ok: false, problem: "it names no build provenance's sha256" };
  if (!Array.isArray(st.subject) || !st.subject.every((s) => typeof s?.digest?.sha256 === 'string'))
    return { ok: false, problem: 'a subject has no sha256 digest' };
  return { ok: true, statement: st };
}
