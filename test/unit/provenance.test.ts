import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pae, signEnvelope, verifyEnvelope, IN_TOTO_PAYLOAD_TYPE } from '../../src/record/dsse.js';
import {
  ensureBuilderKey,
  keyId,
  loadBuilderKey,
  readPublicKey,
  builderKeyFiles,
} from '../../src/record/builder-key.js';
import { auditOrigin, signCheckpoint, verifyCheckpoint } from '../../src/record/checkpoint.js';
import {
  makeStatement,
  signStatement,
  verifyProvenance,
  BUILD_TYPE,
  type ProvenanceInput,
} from '../../src/record/provenance.js';
import { candidatesFor, readProvenanceFiles } from '../../src/record/find-provenance.js';
import { compareOutputs } from '../../src/pipeline/rebuild.js';

describe('DSSE', () => {
  it("encodes PAE as the specification's test vector", () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('verifies its own envelopes, standard and URL-safe, and refuses any change', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const key = { privateKey, keyid: keyId(publicKey) };
    const env = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from('{"a":1}'), key);
    expect(verifyEnvelope(env, publicKey, IN_TOTO_PAYLOAD_TYPE)).toEqual({ ok: true, body: Buffer.from('{"a":1}') });
    const urlSafe = {
      ...env,
      signatures: [
        {
          ...env.signatures[0]!,
          sig: env.signatures[0]!.sig.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
        },
      ],
    };
    expect(verifyEnvelope(urlSafe, publicKey, IN_TOTO_PAYLOAD_TYPE).ok).toBe(true);

    expect(
      verifyEnvelope({ ...env, payload: Buffer.from('{"a":2}').toString('base64') }, publicKey, IN_TOTO_PAYLOAD_TYPE),
    ).toEqual({ ok: false, problem: 'no signature verifies with the given key' });
    // The type is signed too (PAE), so it cannot be swapped.
    expect(verifyEnvelope({ ...env, payloadType: 'text/plain' }, publicKey, 'text/plain').ok).toBe(false);
    expect(verifyEnvelope(env, generateKeyPairSync('ed25519').publicKey, IN_TOTO_PAYLOAD_TYPE).ok).toBe(false);
    // A valid signature for another type is refused on the type, after the signature.
    const other = signEnvelope('text/plain', Buffer.from('x'), key);
    expect(verifyEnvelope(other, publicKey, IN_TOTO_PAYLOAD_TYPE)).toEqual({
      ok: false,
      problem: `payloadType is "text/plain", expected ${IN_TOTO_PAYLOAD_TYPE}`,
    });
    // Garbage in base64, and a keyid naming another key.
    expect(verifyEnvelope({ ...env, payload: env.payload + '!' }, publicKey, IN_TOTO_PAYLOAD_TYPE).ok).toBe(false);
    expect(
      verifyEnvelope(
        { ...env, signatures: [{ ...env.signatures[0]!, keyid: 'f'.repeat(64) }] },
        publicKey,
        IN_TOTO_PAYLOAD_TYPE,
        key.keyid,
      ).ok,
    ).toBe(false);
    for (const bad of [null, 'x', {}, { payloadType: 't', payload: '', signatures: [{}] }])
      expect(verifyEnvelope(bad, publicKey, 't').ok).toBe(false);
  });

  it('refuses a non-canonical base64 signature (the unused low bits changed)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const env = signEnvelope('t', Buffer.from('x'), { privateKey, keyid: '' });
    const sig = env.signatures[0]!.sig; // 64 bytes: 86 characters and "=="
    const last = sig[85]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    expect(Buffer.from(sig.slice(0, 85) + twin + '==', 'base64').equals(Buffer.from(sig, 'base64'))).toBe(true);
    expect(
      verifyEnvelope({ ...env, signatures: [{ keyid: '', sig: sig.slice(0, 85) + twin + '==' }] }, publicKey, 't').ok,
    ).toBe(false);
  });
});

describe('builder key, checkpoints and provenance', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-prov-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('makes the builder key once, private 0600, and keeps builder.pub in step', () => {
    const a = ensureBuilderKey(dir);
    const b = ensureBuilderKey(dir);
    expect(b.keyid).toBe(a.keyid);
    const files = builderKeyFiles(dir);
    expect(fs.statSync(files.key).mode & 0o777).toBe(0o600);
    fs.writeFileSync(files.pub, 'stale');
    loadBuilderKey(dir);
    expect(keyId(readPublicKey(files.pub))).toBe(a.keyid);
    fs.writeFileSync(
      path.join(dir, 'rsa.pub'),
      generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    expect(() => readPublicKey(path.join(dir, 'rsa.pub'))).toThrow(/not an Ed25519 public key/);
  });

  it('signs checkpoints in the signed-note layout and detects any change', () => {
    const key = ensureBuilderKey(dir);
    const origin = auditOrigin('https://builder.example.org/pocketbuild');
    expect(origin).toBe('builder.example.org/pocketbuild/audit');
    const head = 'ab'.repeat(32);
    const text = signCheckpoint({ origin, size: 42, head }, key);
    expect(text).toMatch(
      /^builder\.example\.org\/pocketbuild\/audit\n42\n[A-Za-z0-9+/]{43}=\n\n\u2014 builder\.example\.org\/pocketbuild\/audit [A-Za-z0-9+/]{91}=\n$/,
    );
    expect(verifyCheckpoint(text, key.publicKey)).toEqual({ ok: true, checkpoint: { origin, size: 42, head } });
    expect(verifyCheckpoint(text.replace('\n42\n', '\n41\n'), key.publicKey).ok).toBe(false);
    expect(verifyCheckpoint(text, generateKeyPairSync('ed25519').publicKey).ok).toBe(false);
    expect(verifyCheckpoint('nonsense', key.publicKey).ok).toBe(false);
  });

  const input = (over: Partial<ProvenanceInput> = {}): ProvenanceInput => ({
    req: {
      v: 1,
      id: '01abcdefghjkmnpq',
      pocket: 'stable',
      package: 'hello',
      commit: 'c'.repeat(40),
      commit_spec: 'master',
      principal: 'alice',
      origin: 'ssh',
      time: '2026-11-22T00:00:00.000Z',
    },
    version: '2.10-3',
    tree: 't'.repeat(40),
    sourceDateEpoch: 1600000000,
    buildPath: '/build/reproducible-path',
    sandbox: 'userns',
    limits: { memory_mb: 4096 },
    debBuildOptions: 'parallel=2',
    debBuildProfiles: '',
    baseDigest: 'b'.repeat(64),
    baseSuite: 'bookworm',
    deps: [{ name: 'gcc-12', version: '12.2.0-14', arch: 'amd64', sha256: 'd'.repeat(64) }],
    outputs: [{ file: 'hello_2.10-3_amd64.deb', size: 10, sha256: 'e'.repeat(64) }],
    builderId: 'https://builder.example.org',
    builderVersion: '0.1.0',
    startedOn: '2026-11-22T00:00:01.000Z',
    finishedOn: '2026-11-22T00:00:31.000Z',
    repositoryUri: 'https://builder.example.org/repos/hello.git',
    ...over,
  });

  it('records every input SLSA asks for, signs it, and verifies builder id and type', () => {
    const key = ensureBuilderKey(dir);
    const st = makeStatement(input());
    expect(st.subject).toEqual([{ name: 'hello_2.10-3_amd64.deb', digest: { sha256: 'e'.repeat(64) } }]);
    const deps = st.predicate.buildDefinition.resolvedDependencies;
    expect(deps[0]).toMatchObject({
      name: 'source',
      digest: { gitCommit: 'c'.repeat(40) },
      annotations: { tree: 't'.repeat(40) },
    });
    expect(deps[1]).toMatchObject({ name: 'base-image', digest: { sha256: 'b'.repeat(64) } });
    expect(deps[2]).toEqual({
      name: 'gcc-12',
      uri: 'pkg:deb/debian/gcc-12@12.2.0-14?arch=amd64',
      digest: { sha256: 'd'.repeat(64) },
    });
    expect(st.predicate.buildDefinition.internalParameters.principal).toBe('alice');
    expect(st.predicate.buildDefinition.internalParameters.deb_build_options).toBe('parallel=2');
    expect(st.predicate.runDetails.metadata.invocationId).toBe('01abcdefghjkmnpq');

    const env = signStatement(st, key);
    const ok = verifyProvenance(env, key.publicKey, 'https://builder.example.org');
    expect(ok.ok && ok.statement.predicate.buildDefinition.buildType).toBe(BUILD_TYPE);
    expect(verifyProvenance(env, key.publicKey, 'https://other.example.org')).toEqual({
      ok: false,
      problem: 'builder id is "https://builder.example.org", expected https://other.example.org',
    });

    fs.writeFileSync(path.join(dir, 'a.intoto.jsonl'), JSON.stringify(env) + '\n');
    fs.writeFileSync(path.join(dir, 'broken.intoto.jsonl'), '{not json\n');
    const files = readProvenanceFiles([dir]);
    expect(files).toHaveLength(2);
    expect(candidatesFor('e'.repeat(64), files).map((f) => path.basename(f.file))).toEqual(['a.intoto.jsonl']);
    expect(candidatesFor('f'.repeat(64), files)).toEqual([]);
  });
});

describe('rebuild comparison', () => {
  it('names the files that differ and expects only .buildinfo and .changes to', () => {
    const o = (file: string, sha256: string) => ({ file, size: 1, sha256 });
    const cmp = compareOutputs(
      [o('a.deb', '1'), o('a.buildinfo', '2'), o('a.changes', '3'), o('gone.deb', '4')],
      [o('a.deb', '1'), o('a.buildinfo', '5'), o('a.changes', '6'), o('new.deb', '7')],
    );
    expect(cmp.map((c) => [c.file, c.same, c.expectedToDiffer])).toEqual([
      ['a.buildinfo', false, true],
      ['a.changes', false, true],
      ['a.deb', true, false],
      ['gone.deb', false, false],
      ['new.deb', false, false],
    ]);
  });
});
