import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptInRoot } from '../helpers/apt-in-root.js';
import { TestBuilder } from '../helpers/builder.js';
import { ClientKeys, EmbeddedServer, embeddedSshYaml, freePort } from '../helpers/ssh.js';
import { tempDirForTestUser, writeExecutable } from '../helpers/env.js';
import { PackageRepo } from '../helpers/packages.js';

/**
 * Pockets as stages (docs/promotion.md): a build published in `dev` is promoted to `stable`
 * over SSH (the real ssh client, the embedded server), not rebuilt: the same files, signed for
 * with a promotion statement, refs moved, hooks told `promoted`. Refusals change nothing; a
 * daemon killed mid-promotion finishes it once; an admin withdraws a package from a pocket.
 */
describe('promotion between pockets', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let keys: ClientKeys;
  let server: EmbeddedServer;
  const PKG = 'pb-promote';
  const commits: Record<string, string> = {};
  let devBuild = '';
  let promotion = '';
  let events = '';

  const ssh = (who: string, cmd: string) => server.run(who, cmd);
  const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  /** The .deb a suite's Packages lists for the package: its pool file and the sha256 the index gives. */
  const listedDeb = (suite: string): { file: string; sha256: string } | null => {
    const text = fs.readFileSync(path.join(b.aptDir(), 'dists', suite, 'main', 'binary-amd64', 'Packages'), 'utf8');
    const stanza = text.split('\n\n').find((s) => s.startsWith(`Package: ${PKG}\n`));
    if (!stanza) return null;
    return {
      file: path.join(b.aptDir(), /^Filename: (.+)$/m.exec(stanza)![1]!),
      sha256: /^SHA256: (.+)$/m.exec(stanza)![1]!,
    };
  };
  const queued = () => fs.readdirSync(path.join(b.root, 'queue')).filter((f) => f.endsWith('.json'));
  const ofRequest = (id: string) => b.auditEntries().filter((e) => e.build === id);

  beforeAll(async () => {
    keys = new ClientKeys(tempDirForTestUser('promotion-keys'), ['alice', 'carol', 'bob']);
    const port = await freePort();
    b = new TestBuilder('promotion', {
      pockets: {
        dev: { acl: ['*'] },
        stable: { acl: ['alice'], promote_from: ['dev'] },
        other: { acl: ['*'] },
      },
      extraYaml: ['admins: [bob]', ...embeddedSshYaml(port, keys, ['alice', 'carol', 'bob'])].join('\n'),
    });
    events = path.join(b.root, 'events');
    writeExecutable(
      path.join(b.hooksDir, '10-record'),
      `#!/bin/sh\necho "$POCKETBUILD_EVENT $POCKETBUILD_ID $POCKETBUILD_STATUS $POCKETBUILD_VERSION" >> ${events}`,
    );
    repo = new PackageRepo(b.reposDir, PKG);
    server = new EmbeddedServer(keys, b.configFile, port, path.join(b.root, 'ssh-server.log'));
    await server.start();
    await b.startDaemon();
    commits['1.0'] = repo.commitVersion({ version: '1.0', greeting: 'promoted, not rebuilt' });
    devBuild = b.submit('dev', PKG, commits['1.0']);
    const r = await b.waitFor(devBuild);
    expect(r.status, b.buildLog(devBuild)).toBe('succeeded');
  }, 20 * 60_000);

  afterAll(async () => {
    await server?.stop();
    repo?.cleanup();
    await b?.cleanup();
  });

  it('refuses a promotion by someone outside the ACL, from a pocket not in promote_from, or of a version not published, changing nothing', () => {
    const before = { audit: b.auditEntries().length, stable: b.published('stable') };
    expect(ssh('carol', `promote ${PKG} dev stable`)).toMatchObject({ code: 3, stdout: '' });
    expect(ssh('carol', `promote ${PKG} dev stable`).stderr).toMatch(
      /^pocketbuild: carol may not build into stable\b.*\n$/,
    );
    const other = ssh('alice', `promote ${PKG} other stable`);
    expect(other).toEqual({
      code: 3,
      stdout: '',
      stderr:
        'pocketbuild: pocket stable does not take promotions from other (only from dev); an admin lists the pockets it takes from in pockets.stable.promote_from.\n',
    });
    const notThere = ssh('alice', `promote ${PKG} dev stable 0.9`);
    expect(notThere).toEqual({
      code: 4,
      stdout: '',
      stderr: `pocketbuild: pocket dev publishes ${PKG} 1.0, not 0.9; promote what it publishes.\n`,
    });
    expect(b.published('stable')).toEqual(before.stable);
    expect(queued()).toEqual([]);
    const refusals = b.auditEntries().slice(before.audit);
    expect(refusals.map((e) => [e.type, e.data.verb, e.data.code, e.data.promote_from])).toEqual([
      ['request.refused', 'promote', 'AccessDenied', 'dev'],
      ['request.refused', 'promote', 'AccessDenied', 'dev'],
      ['request.refused', 'promote', 'PromotionNotAllowed', 'other'],
      ['request.refused', 'promote', 'NotPublished', 'dev'],
    ]);
    expect(b.git(PKG, ['for-each-ref', '--format=%(refname)', 'refs/heads/stable', 'refs/tags/stable'])).toBe('');
  });

  it(
    'promotes what dev publishes to stable: the same files, apt installs them with Signed-By, refs and verify say so',
    async () => {
      const asked = ssh('alice', `promote ${PKG} dev stable`);
      expect(asked.code, asked.stderr).toBe(0);
      promotion = asked.stdout.trim();
      const r = await b.waitFor(promotion);
      expect(r.status, b.buildLog(promotion)).toBe('succeeded');
      expect(r.version).toBe('1.0');
      const st = ssh('alice', `status ${promotion}`);
      expect(st.stdout).toMatch(
        new RegExp(`^  ${promotion}  succeeded  stable .* alice  \\(promoted from dev\\)$`, 'm'),
      );
      // Nothing was built: a promotion's steps, no build, export or deps.
      expect(r.stages.map((s) => s.name)).toEqual(['validate', 'collect', 'attest', 'publish', 'refs']);

      // The very file dev publishes, byte for byte, and the build recorded.
      const dev = listedDeb('dev')!;
      const stable = listedDeb('stable')!;
      const built = JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', devBuild, 'result.json'), 'utf8')) as {
        outputs: Array<{ file: string; sha256: string }>;
      };
      const deb = built.outputs.find((o) => o.file.endsWith('.deb'))!;
      expect(stable.sha256).toBe(deb.sha256);
      expect(dev.sha256).toBe(deb.sha256);
      expect(sha256(stable.file)).toBe(deb.sha256);
      expect(b.published('stable')).toEqual([`${PKG} 1.0`]);

      // A machine trusting only the repository key installs it from stable and runs it.
      const apt = aptInRoot('bookworm', b.aptDir(), 'stable', [
        `apt-get install -y -q ${PKG}`,
        `${PKG}`,
        `cd /tmp && apt-get download -q ${PKG} && sha256sum ${PKG}_1.0_all.deb`,
      ]);
      expect(apt.status, apt.stderr + apt.stdout).toBe(0);
      expect(apt.stdout).toContain('promoted, not rebuilt');
      expect(apt.stdout).toContain(deb.sha256);

      // stable's branch and tag name the commit that was built.
      expect(b.git(PKG, ['rev-parse', 'refs/heads/stable'])).toBe(commits['1.0']);
      expect(b.git(PKG, ['rev-parse', 'refs/tags/stable/1.0^{commit}'])).toBe(commits['1.0']);

      // verify walks from the installed file to the build, and shows the promotion.
      const v = b.cli(['verify', stable.file]);
      expect(v.stdout).toContain(`PASSED: ${stable.file}`);
      expect(v.stdout).toContain(`  build:       ${devBuild}: ${PKG} 1.0 -> pocket dev`);
      expect(v.stdout).toMatch(
        new RegExp(`^  promoted:    dev -> stable by alice via ssh at \\S+ \\(request ${promotion}; `, 'm'),
      );
      // And elsewhere, from what the repository publishes: the key and the provenance directory.
      const published = b.cli([
        'verify',
        '--key',
        path.join(b.aptDir(), 'builder.pub'),
        '--provenance',
        path.join(b.aptDir(), 'provenance'),
        '--json',
        deb.sha256,
      ]);
      const out = JSON.parse(published.stdout) as {
        results: Array<{ ok: boolean; promotions: Array<{ statement: { predicate: Record<string, unknown> } }> }>;
      };
      expect(out.results[0]!.ok).toBe(true);
      const predicate = out.results[0]!.promotions[0]!.statement.predicate as {
        build: { id: string; provenance: { digest: { sha256: string } } };
        from: { pocket: string };
        to: { pocket: string };
        promotion: { principal: string };
      };
      expect(predicate.build.id).toBe(devBuild);
      expect(predicate.build.provenance.digest.sha256).toBe(
        sha256(path.join(b.stateDir, 'builds', devBuild, 'provenance.intoto.jsonl')),
      );
      expect([predicate.from.pocket, predicate.to.pocket, predicate.promotion.principal]).toEqual([
        'dev',
        'stable',
        'alice',
      ]);

      // Audited and told: accepted, published from dev, the refs, the end; the hooks heard `promoted`.
      const audit = ofRequest(promotion);
      expect(audit.find((e) => e.type === 'request.accepted')!.data).toMatchObject({
        verb: 'promote',
        pocket: 'stable',
        promote_from: 'dev',
        version: '1.0',
        commit: commits['1.0'],
      });
      expect(audit.find((e) => e.type === 'publish')!.data).toMatchObject({
        pocket: 'stable',
        version: '1.0',
        promoted_from: 'dev',
        build_of: devBuild,
      });
      expect(audit.filter((e) => e.type === 'build.finished')).toHaveLength(1);
      expect(fs.readFileSync(events, 'utf8')).toContain(`promoted ${promotion} succeeded 1.0\n`);

      // Promoting it again is refused: stable already publishes 1.0.
      expect(ssh('alice', `promote ${PKG} dev stable`)).toEqual({
        code: 1,
        stdout: '',
        stderr: `pocketbuild: ${PKG} 1.0 is not newer than 1.0, which pocket stable already publishes; promote a newer version.\n`,
      });
      // A promotion built nothing, so there is nothing to rebuild.
      const rebuild = b.cli(['rebuild', promotion], true);
      expect(rebuild.status).not.toBe(0);
      expect(rebuild.stderr).toContain(`${promotion} is a promotion: it built nothing`);
    },
    15 * 60_000,
  );

  it(
    'refuses to promote a version older than the one the target publishes',
    async () => {
      commits['2.0'] = repo.commitVersion({ version: '2.0', greeting: 'built into stable directly' });
      const direct = ssh('alice', `submit stable ${PKG} ${commits['2.0']}`);
      expect(direct.code, direct.stderr).toBe(0);
      expect((await b.waitFor(direct.stdout.trim())).status).toBe('succeeded');
      const before = b.auditEntries().length;
      expect(ssh('alice', `promote ${PKG} dev stable 1.0`)).toEqual({
        code: 1,
        stdout: '',
        stderr: `pocketbuild: ${PKG} 1.0 is not newer than 2.0, which pocket stable already publishes; promote a newer version.\n`,
      });
      expect(b.published('stable')).toEqual([`${PKG} 2.0`]);
      expect(queued()).toEqual([]);
      expect(
        b
          .auditEntries()
          .slice(before)
          .map((e) => [e.type, e.data.code]),
      ).toEqual([['request.refused', 'VersionNotNewer']]);
    },
    15 * 60_000,
  );

  it(
    'finishes a promotion exactly once when its daemon is killed in the middle of publishing it',
    async () => {
      commits['3.0'] = repo.commitVersion({ version: '3.0', greeting: 'third' });
      const built = b.submit('dev', PKG, commits['3.0']);
      expect((await b.waitFor(built)).status).toBe('succeeded');
      await b.stopDaemon();
      // Killed right after reprepro copied it into stable, before the journal says so.
      await b.startDaemon({ POCKETBUILD_FAULT: 'publish:after-include' });
      const asked = ssh('alice', `promote ${PKG} dev stable 3.0`);
      expect(asked.code, asked.stderr).toBe(0);
      const id = asked.stdout.trim();
      await b.waitForDaemonExit();
      expect(b.lastDaemonExit()?.signal).toBe('SIGKILL');
      expect(fs.existsSync(path.join(b.stateDir, 'builds', id, 'result.json'))).toBe(false);
      await b.startDaemon();
      const r = await b.waitFor(id);
      expect(r.status, b.buildLog(id)).toBe('succeeded');
      expect(b.buildLog(id)).toMatch(/suite stable holds pb-promote 3\.0: completing the publish/);
      expect(b.published('stable')).toEqual([`${PKG} 3.0`]);
      expect(listedDeb('stable')!.sha256).toBe(listedDeb('dev')!.sha256);
      const audit = ofRequest(id);
      expect(audit.filter((e) => e.type === 'publish')).toHaveLength(1);
      expect(audit.filter((e) => e.type === 'build.finished')).toHaveLength(1);
      expect(audit.filter((e) => e.type === 'ref.moved').map((e) => e.data.ref)).toEqual([
        'refs/heads/stable',
        'refs/tags/stable/3.0',
      ]);
      expect(
        fs
          .readFileSync(events, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith(`promoted ${id} `)),
      ).toHaveLength(1);
      expect(b.git(PKG, ['rev-parse', 'refs/heads/stable'])).toBe(commits['3.0']);
    },
    15 * 60_000,
  );

  it('lets an admin, and only an admin, withdraw a package from a pocket', () => {
    const before = b.auditEntries().length;
    expect(ssh('alice', `remove ${PKG} stable`)).toMatchObject({ code: 3, stdout: '' });
    expect(b.published('stable')).toEqual([`${PKG} 3.0`]);
    const removed = ssh('bob', `remove ${PKG} stable`);
    expect(removed).toEqual({ code: 0, stdout: `${PKG} 3.0 is no longer in stable\n`, stderr: '' });
    expect(b.published('stable')).toEqual([]);
    expect(listedDeb('stable')).toBeNull();
    // dev still publishes its own, from the same pool.
    expect(b.published('dev')).toEqual([`${PKG} 3.0`]);
    expect(fs.existsSync(listedDeb('dev')!.file)).toBe(true);
    // The branch said what stable publishes: nothing now. The tags stay as history.
    expect(b.git(PKG, ['for-each-ref', '--format=%(refname)', 'refs/heads/stable'])).toBe('');
    expect(b.git(PKG, ['rev-parse', 'refs/tags/stable/3.0^{commit}'])).toBe(commits['3.0']);
    const audit = b.auditEntries().slice(before);
    expect(audit.map((e) => [e.type, e.data.code ?? e.data.verb ?? e.data.ref])).toEqual([
      ['request.refused', 'AccessDenied'],
      ['request.accepted', 'remove'],
      ['ref.moved', 'refs/heads/stable'],
    ]);
    expect(audit[2]!.data).toEqual({ package: PKG, ref: 'refs/heads/stable', from: commits['3.0'], to: null });
    // Nothing left to remove.
    expect(ssh('bob', `remove ${PKG} stable`)).toEqual({
      code: 4,
      stdout: '',
      stderr: `pocketbuild: pocket stable does not publish ${PKG}; nothing to remove.\n`,
    });
  });
});
