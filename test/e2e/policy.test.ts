import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runAs } from '../helpers/env.js';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';

/**
 * What a pocket refuses and what a backtracking pocket allows, and a build that uses a tool
 * it never declared: all through the real daemon, all checked on the published repository.
 */
describe('pocket policy and undeclared build-dependencies', () => {
  let b: TestBuilder;
  const repos: PackageRepo[] = [];

  beforeAll(async () => {
    b = new TestBuilder('policy', { pockets: { stable: {}, dev: { allow_backtracking: true } } });
    await b.startDaemon();
  });

  afterAll(async () => {
    repos.forEach((r) => r.cleanup());
    await b?.cleanup();
  });

  function repo(name: string): PackageRepo {
    const r = new PackageRepo(b.reposDir, name);
    repos.push(r);
    return r;
  }

  it('fails a build that uses a tool missing from Build-Depends, shows it in the log, publishes nothing', async () => {
    const r = repo('pb-undeclared');
    // jq is not in the buildd base and not declared: the build must not find it.
    const commit = r.commitVersion({ version: '1.0', buildCommands: ['jq --version'] });
    const id = b.submit('stable', 'pb-undeclared', commit);
    const res = await b.waitFor(id);
    expect(res.status).toBe('failed');
    expect(res.code).toBe('BuildFailed');
    expect(b.buildLog(id)).toMatch(/jq: (command )?not found|jq: No such file or directory/);
    expect(b.published('stable').filter((l) => l.startsWith('pb-undeclared'))).toEqual([]);
    expect(b.git('pb-undeclared', ['for-each-ref', 'refs/heads/stable', 'refs/tags/'])).toBe('');
  });

  it('refuses a non-fast-forward commit and a version that is not newer; a backtracking pocket takes both', async () => {
    const r = repo('pb-mover');
    const v1 = r.commitVersion({ version: '1.0' });
    const first = await b.waitFor(b.submit('stable', 'pb-mover', v1));
    expect(first.status).toBe('succeeded');

    // A commit that does not descend from what stable publishes, even with a newer version.
    r.orphan('rewrite');
    const unrelated = r.commitVersion({ version: '2.0' }, 'rewrite');
    const nff = await b.waitFor(b.submit('stable', 'pb-mover', unrelated));
    expect(nff.status).toBe('denied');
    expect(nff.code).toBe('NotFastForward');
    expect(nff.reason).toContain('does not descend from');
    expect(nff.reason).toContain('allow_backtracking');

    // A descendant whose version goes backwards.
    const older = r.commitVersion({ version: '0.9' }, 'main');
    const old = await b.waitFor(b.submit('stable', 'pb-mover', older));
    expect(old.status).toBe('denied');
    expect(old.code).toBe('VersionNotNewer');
    expect(old.reason).toBe(
      'pb-mover 0.9 is not newer than 1.0, which pocket stable already publishes; add a new debian/changelog entry.',
    );

    // Nothing moved in stable.
    expect(b.published('stable')).toContain('pb-mover 1.0');
    expect(b.git('pb-mover', ['rev-parse', 'refs/heads/stable'])).toBe(v1);

    // dev allows backtracking: 1.0, then the older 0.9, then the unrelated history all publish.
    for (const [commit, version] of [
      [v1, '1.0'],
      [older, '0.9'],
      [unrelated, '2.0'],
      [v1, '1.0'],
    ] as const) {
      const id = b.submit('dev', 'pb-mover', commit);
      const res = await b.waitFor(id);
      expect(res.status, b.buildLog(id)).toBe('succeeded');
      expect(b.published('dev')).toContain(`pb-mover ${version}`);
      expect(b.git('pb-mover', ['rev-parse', 'refs/heads/dev'])).toBe(commit);
    }
    // Backtracking pockets get no version tags.
    expect(b.git('pb-mover', ['tag', '--list', 'dev/*'])).toBe('');
    expect(b.git('pb-mover', ['tag', '--list', 'stable/*'])).toBe('stable/1.0');
  });
});

describe('3.0 (quilt) without pristine-tar', () => {
  let b: TestBuilder;
  let r: PackageRepo;

  beforeAll(async () => {
    b = new TestBuilder('quilt', { pockets: { stable: {} } });
    await b.startDaemon();
    r = new PackageRepo(b.reposDir, 'pb-quilt');
  });
  afterAll(async () => {
    r?.cleanup();
    await b?.cleanup();
  });

  it('makes the upstream tarball from the upstream/<version> tag, and refuses when there is neither', async () => {
    // Without any upstream source the build is refused with what to push.
    // The packaging tree carries the same program as upstream: 3.0 (quilt) refuses unrecorded upstream changes.
    const lonely = r.commitVersion({ version: '1.0-1', format: 'quilt', greeting: 'upstream greeting 1.0' });
    const none = await b.waitFor(b.submit('stable', 'pb-quilt', lonely));
    expect(none.status).toBe('failed');
    expect(none.reason).toBe(
      'pb-quilt 1.0-1 is 3.0 (quilt) with a Debian revision, so it needs an upstream tarball, but pb-quilt.git has neither a pristine-tar branch entry for 1.0 nor a tag upstream/1.0; push one of them.',
    );

    r.tagUpstream('1.0', 'upstream greeting 1.0');
    const id = b.submit('stable', 'pb-quilt', lonely);
    const res = await b.waitFor(id);
    expect(res.status, b.buildLog(id)).toBe('succeeded');
    expect(b.buildLog(id)).toContain('export: pb-quilt_1.0.orig.tar.xz made from tag upstream/1.0');
    expect(res.outputs.map((o) => o.file)).toEqual(
      expect.arrayContaining(['pb-quilt_1.0.orig.tar.xz', 'pb-quilt_1.0-1.debian.tar.xz', 'pb-quilt_1.0-1.dsc']),
    );
    expect(b.published('stable')).toEqual(['pb-quilt 1.0-1']);
  });
});

describe('ACLs are checked again when the build starts', () => {
  let b: TestBuilder;
  let r: PackageRepo;

  beforeAll(() => {
    b = new TestBuilder('reacl', { pockets: { stable: { acl: ['alice', 'bob'] } } });
    r = new PackageRepo(b.reposDir, 'pb-reacl');
  });
  afterAll(async () => {
    r?.cleanup();
    await b?.cleanup();
  });

  it('denies the build of a principal removed from the pocket after submitting', async () => {
    const commit = r.commitVersion({ version: '1.0' });
    // Accepted over SSH (the forced command, run as sshd would) while alice was allowed.
    const ok = runAs(['node', CLI, '--config', b.configFile, 'ssh', '--principal', 'alice'], {
      env: { SSH_ORIGINAL_COMMAND: `submit stable pb-reacl ${commit}` },
    });
    const id = ok.stdout.trim();
    // Then alice is removed, before any daemon looked at the queue.
    fs.writeFileSync(
      b.configFile,
      fs.readFileSync(b.configFile, 'utf8').replace('acl: ["alice","bob"]', 'acl: ["bob"]'),
    );
    await b.startDaemon();
    const res = await b.waitFor(id);
    expect(res.status).toBe('denied');
    expect(res.code).toBe('AccessDenied');
    expect(res.reason).toContain('alice may not build into stable');
    expect(b.published('stable')).toEqual([]);
  });
});

describe('limits.log_mb', () => {
  let b: TestBuilder;
  let r: PackageRepo;

  beforeAll(async () => {
    b = new TestBuilder('loglimit', { pockets: { stable: {} }, extraYaml: 'limits:\n  log_mb: 1' });
    await b.startDaemon();
    r = new PackageRepo(b.reposDir, 'pb-chatty');
  });
  afterAll(async () => {
    r?.cleanup();
    await b?.cleanup();
  });

  it('stops a build that floods its log, keeps the log bounded, and names the limit', async () => {
    // 20 MB of output, then a long sleep: only the limit can end this build early.
    const commit = r.commitVersion({
      version: '1.0',
      buildCommands: ['head -c 20000000 /dev/zero | tr "\\\\0" x | fold -w 100', 'sleep 600'],
    });
    const id = b.submit('stable', 'pb-chatty', commit);
    const res = await b.waitFor(id, 300_000);
    expect(res.status).toBe('failed');
    expect(res.code).toBe('LogLimitExceeded');
    expect(res.reason).toMatch(/^the build log passed limits\.log_mb \(1 MiB\) while building/);
    const size = fs.statSync(`${b.stateDir}/builds/${id}/build.log`).size;
    expect(size).toBeGreaterThanOrEqual(1024 * 1024);
    expect(size).toBeLessThan(1024 * 1024 + 64 * 1024 + 4096);
    expect(b.buildLog(id)).toContain(
      'pocketbuild: the build log passed limits.log_mb (1 MiB); further output is dropped and the build is stopped',
    );
    expect(b.published('stable')).toEqual([]);
  });
});
