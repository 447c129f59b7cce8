import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { ClientKeys, EmbeddedServer, embeddedSshYaml, freePort } from '../helpers/ssh.js';
import { tempDirForTestUser } from '../helpers/env.js';

/**
 * Ordered batches (docs/batches.md): `submit POCKET PKG@COMMIT PKG@COMMIT…` queues requests that
 * build in Build-Depends order, whatever order they were typed in; a request whose dependency
 * fails ends `DependencyFailed` without building; a cycle is refused and nothing is queued.
 * Batches go in over SSH (the embedded server, the real ssh client); the cycle through the CLI.
 */
describe('ordered batches', () => {
  let b: TestBuilder;
  let lib: PackageRepo;
  let prog: PackageRepo;
  let keys: ClientKeys;
  let server: EmbeddedServer;

  beforeAll(async () => {
    keys = new ClientKeys(tempDirForTestUser('batches-keys'), ['alice']);
    const port = await freePort();
    b = new TestBuilder('batches', {
      pockets: { stable: {} },
      slots: 2,
      extraYaml: embeddedSshYaml(port, keys, ['alice']).join('\n'),
    });
    server = new EmbeddedServer(keys, b.configFile, port, path.join(b.root, 'ssh-server.log'));
    await server.start();
    lib = new PackageRepo(b.reposDir, 'pb-blib');
    prog = new PackageRepo(b.reposDir, 'pb-bprog');
    await b.startDaemon();
    const first = b.submit('stable', 'pb-blib', lib.commitVersion({ version: '1.0' }));
    expect((await b.waitFor(first)).status, b.buildLog(first)).toBe('succeeded');
  }, 15 * 60_000);

  afterAll(async () => {
    await server?.stop();
    lib?.cleanup();
    prog?.cleanup();
    await b?.cleanup();
  });

  const entries = () => b.auditEntries();

  /**
   * Submit a batch over SSH (the real ssh client); returns package → request id, from the
   * "ID PACKAGE [after ID…]" lines. The cycle below goes through the local CLI.
   */
  const batch = (items: string[]): Map<string, { id: string; after: string[] }> => {
    const r = server.run('alice', ['submit', 'stable', ...items].join(' '));
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    return new Map(
      out
        .trim()
        .split('\n')
        .map((l) => {
          const [id, pkg, , ...after] = l.split(' ');
          return [pkg!, { id: id!, after }];
        }),
    );
  };

  it(
    'builds the library first, then the program against its new version, though the program was typed first',
    async () => {
      const p = prog.commitVersion({ version: '2.0', buildDepends: 'pb-blib (>= 2.0)' });
      const l = lib.commitVersion({ version: '2.0', buildCommands: ['sleep 8'] });
      const ids = batch([`pb-bprog@${p}`, `pb-blib@${l}`]);
      const libId = ids.get('pb-blib')!.id;
      const progId = ids.get('pb-bprog')!.id;
      expect(ids.get('pb-bprog')!.after).toEqual([libId]);
      expect(ids.get('pb-blib')!.after).toEqual([]);

      // While the library builds, the program waits, and says for what, though a slot is free.
      for (let i = 0; i < 600 && !b.buildLog(libId).includes('==> build '); i++) await sleep(100);
      const st = b.cli(['status', progId, '--json']).stdout;
      expect(JSON.parse(st)).toMatchObject({
        status: 'dep-wait',
        reason: `waits for pb-blib (${libId}) to be published`,
      });

      const [lr, pr] = [await b.waitFor(libId), await b.waitFor(progId)];
      expect(lr.status, b.buildLog(libId)).toBe('succeeded');
      expect(pr.status, b.buildLog(progId)).toBe('succeeded');
      // Built against the library the batch published: its recorded build-dependencies say 2.0.
      const used = JSON.parse(fs.readFileSync(path.join(b.stateDir, 'builds', progId, 'result.json'), 'utf8')) as {
        build_deps: Array<{ name: string; version: string }>;
      };
      expect(used.build_deps.find((d) => d.name === 'pb-blib')?.version).toBe('2.0');
      const log = entries();
      const at = (type: string, id: string) => log.findIndex((e) => e.type === type && e.build === id);
      expect(at('build.claimed', progId)).toBeGreaterThan(at('publish', libId));
      expect(b.published('stable')).toEqual(['pb-blib 2.0', 'pb-bprog 2.0']);
    },
    15 * 60_000,
  );

  it(
    'ends the program DependencyFailed, unbuilt, when the library fails',
    async () => {
      const p = prog.commitVersion({ version: '3.0', buildDepends: 'pb-blib (>= 3.0)' });
      const l = lib.commitVersion({ version: '3.0', buildCommands: ['echo broken >&2', 'exit 1'] });
      const ids = batch([`pb-bprog@${p}`, `pb-blib@${l}`]);
      const libId = ids.get('pb-blib')!.id;
      const progId = ids.get('pb-bprog')!.id;
      expect((await b.waitFor(libId)).status).toBe('failed');
      const pr = await b.waitFor(progId);
      expect(pr.status).toBe('failed');
      expect(pr.code).toBe('DependencyFailed');
      expect(pr.reason).toBe(
        `pb-blib (${libId}), which it build-depends on, ended failed (BuildFailed), so it was not built`,
      );
      const mine = entries().filter((e) => e.build === progId);
      expect(mine.filter((e) => e.type === 'build.stage')).toEqual([]);
      expect(mine.filter((e) => e.type === 'build.finished')).toHaveLength(1);
      expect(b.buildLog(progId)).not.toContain('==> build ');
      expect(b.published('stable')).toEqual(['pb-blib 2.0', 'pb-bprog 2.0']);
    },
    15 * 60_000,
  );

  it('refuses a batch whose requests build-depend on each other in a circle, and queues nothing', () => {
    const a = new PackageRepo(b.reposDir, 'pb-cyc-a');
    const c = new PackageRepo(b.reposDir, 'pb-cyc-b');
    try {
      const ca = a.commitVersion({ version: '1.0', buildDepends: 'pb-cyc-b' });
      const cb = c.commitVersion({ version: '1.0', buildDepends: 'pb-cyc-a | something-else' });
      const r = b.cli(['submit', 'stable', `pb-cyc-a@${ca}`, `pb-cyc-b@${cb}`], true);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toBe(
        'pocketbuild: the batch cannot be ordered: pb-cyc-a build-depends on a binary of pb-cyc-b build-depends on a binary of pb-cyc-a; submit one of them on its own first.\n',
      );
      expect(fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'))).toEqual([]);
      const refused = entries()
        .filter((e) => e.type === 'request.refused')
        .at(-1)!;
      expect(refused.data.code).toBe('BatchCycle');
      expect(entries().filter((e) => e.type === 'request.accepted' && e.data.package === 'pb-cyc-a')).toEqual([]);
    } finally {
      a.cleanup();
      c.cleanup();
    }
  });
});
