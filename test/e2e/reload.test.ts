import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder, sleep } from '../helpers/builder.js';
import { ClientKeys, EmbeddedServer, embeddedSshYaml, freePort, runSsh, sshArgs } from '../helpers/ssh.js';
import { PackageRepo } from '../helpers/packages.js';
import { tempDirForTestUser } from '../helpers/env.js';

/**
 * SIGHUP (systemctl reload) re-reads the configuration in the daemon and the SSH server: a
 * changed ACL takes effect for the next command and the next build start, a running build
 * goes on untouched, and a broken file is refused with its file:line, the old one staying.
 */
describe('reload on SIGHUP', () => {
  let b: TestBuilder;
  let keys: ClientKeys;
  let server: EmbeddedServer;
  let repo: PackageRepo;
  let yaml: string;
  const serverLog = () => fs.readFileSync(path.join(b.root, 'ssh-server.log'), 'utf8');

  beforeAll(async () => {
    keys = new ClientKeys(tempDirForTestUser('keys'), ['alice', 'bob']);
    const port = await freePort();
    b = new TestBuilder('reload', {
      pockets: { dev: { acl: ['alice'], allow_backtracking: true } },
      extraYaml: embeddedSshYaml(port, keys, ['alice', 'bob']).join('\n'),
    });
    yaml = fs.readFileSync(b.configFile, 'utf8');
    repo = new PackageRepo(b.reposDir, 'pb-reload');
    repo.commitVersion({ version: '1.0', buildCommands: ['sleep 25'] }, 'slow');
    repo.commitVersion({ version: '2.0' });
    server = new EmbeddedServer(keys, b.configFile, port, path.join(b.root, 'ssh-server.log'));
    await server.start();
    await b.startDaemon();
  });
  afterAll(async () => {
    await server?.stop();
    repo?.cleanup();
    await b?.cleanup();
  });

  const ssh = (who: string, cmd: string) => runSsh([...sshArgs(keys.key(who), server.port), 'build@127.0.0.1', cmd]);
  const waitForLine = async (read: () => string, re: RegExp, after: number) => {
    for (let i = 0; i < 300; i++) {
      const m = read().slice(after).match(re);
      if (m) return m[0];
      await sleep(100);
    }
    throw new Error(`no ${re} in:\n${read().slice(after)}`);
  };
  const hangUp = async () => {
    const [d, s] = [b.log().length, serverLog().length];
    b.signalDaemon('SIGHUP');
    server.signal('SIGHUP');
    return [await waitForLine(() => b.log(), /reload: .*/, d), await waitForLine(serverLog, /reload: .*/, s)];
  };

  it('puts a changed ACL in force for the next command and build, leaving a running build alone', async () => {
    const slow = ssh('alice', 'submit dev pb-reload slow');
    expect(slow.code, slow.stderr).toBe(0);
    const slowId = slow.stdout.trim();
    for (let i = 0; i < 600 && !b.buildLog(slowId).includes('building as uid'); i++) await sleep(100);
    expect(b.buildLog(slowId)).toContain('building as uid');

    const before = ssh('bob', 'submit dev pb-reload main');
    expect(before.code).toBe(3);
    expect(before.stderr).toMatch(/^pocketbuild: bob may not build into dev/);

    fs.writeFileSync(b.configFile, yaml.replace('acl: ["alice"]', 'acl: ["alice","bob"]'));
    const [daemonSaid, serverSaid] = await hangUp();
    expect(daemonSaid).toMatch(/reload: \S+ is in force; changed: pockets$/);
    expect(serverSaid).toMatch(/reload: \S+ is in force; changed: pockets$/);

    // The SSH server lets bob in now; the daemon, checking the ACL again when the build
    // starts, builds it (a daemon still on the old ACL would end it denied).
    const after = ssh('bob', 'submit dev pb-reload main');
    expect(after.code, after.stderr).toBe(0);
    const bobId = after.stdout.trim();
    const slowResult = await b.waitFor(slowId, 300_000);
    expect(slowResult.status, b.buildLog(slowId)).toBe('succeeded');
    const bobResult = await b.waitFor(bobId, 300_000);
    expect(bobResult.status, b.buildLog(bobId)).toBe('succeeded');
    expect(b.published('dev')).toContain('pb-reload 2.0');
  });

  it('refuses a broken file with its file:line error and keeps the configuration in force', async () => {
    fs.writeFileSync(b.configFile, yaml.replace('acl: ["alice"]', 'acl: ["alice", "bob"]\n    acll: []'));
    const [daemonSaid, serverSaid] = await hangUp();
    for (const said of [daemonSaid, serverSaid]) {
      expect(said).toContain('reload: refused, the configuration in force is unchanged: ');
      expect(said).toMatch(new RegExp(`${b.configFile}:\\d+: unknown key "pockets.dev.acll"`));
    }
    // Both processes are alive and still on the configuration that let bob in.
    const who = ssh('bob', 'whoami --json');
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ principal: 'bob', pockets: ['dev'] });
    expect(b.lastDaemonExit()).toBeNull();
    // A restart-only setting is kept until a restart, and said so.
    fs.writeFileSync(b.configFile, yaml.replace('slots: 1', 'slots: 2'));
    const [daemonKept] = await hangUp();
    expect(daemonKept).toContain('daemon.slots keep their old values until a restart');
  });
});
