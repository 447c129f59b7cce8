import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { ClientKeys, EmbeddedServer, OpenSshServer, freePort, runSsh, sshArgs } from '../helpers/ssh.js';
import { spawnSync } from 'node:child_process';
import { CLI, tempDirForTestUser, testUser } from '../helpers/env.js';

/**
 * Onboarding without editing YAML: `pocketbuild user add/list/remove`, taking effect at once in
 * the running embedded server (as build@HOST) and in OpenSSH's authorized_keys, audited.
 */
describe('pocketbuild user', () => {
  let b: TestBuilder;
  let keys: ClientKeys;
  let embedded: EmbeddedServer;
  let sshd: OpenSshServer;
  let authorizedKeys: string;

  beforeAll(async () => {
    keys = new ClientKeys(tempDirForTestUser('keys'), ['carol', 'dave']);
    const port = await freePort();
    authorizedKeys = path.join('ROOT', 'sshd', 'authorized_keys');
    b = new TestBuilder('users', {
      pockets: { dev: { acl: ['*'] } },
      extraYaml: ['ssh:', '  listen: 127.0.0.1', `  port: ${port}`, '  authorized_keys: ./sshd/authorized_keys'].join(
        '\n',
      ),
    });
    authorizedKeys = path.join(b.root, 'sshd', 'authorized_keys');
    // The sshd of the test user, reading the authorized_keys that `user add` writes.
    sshd = new OpenSshServer(b.root, keys, b.configFile, []);
    await sshd.start();
    embedded = new EmbeddedServer(keys, b.configFile, port, path.join(b.root, 'ssh-server.log'));
    await embedded.start();
  });
  afterAll(async () => {
    await embedded?.stop();
    await sshd?.stop();
    await b?.cleanup();
  });

  // The admin runs `user` as themselves (root here), with key files only they can read.
  const admin = (args: string[]) =>
    spawnSync(process.execPath, [CLI, '--config', b.configFile, ...args], { encoding: 'utf8', timeout: 60_000 });
  const asBuild = (who: string, cmd: string) =>
    runSsh([...sshArgs(keys.key(who), embedded.port), 'build@127.0.0.1', cmd]);
  const viaOpenSsh = (who: string, cmd: string) =>
    runSsh([...sshArgs(keys.key(who), sshd.port), `${testUser().name}@127.0.0.1`, cmd]);

  it('adds a key that logs in at once as build@HOST, in the running embedded server and through OpenSSH', () => {
    expect(asBuild('carol', 'whoami').code).toBe(255);
    const add = admin(['user', 'add', 'carol', '--key', `${keys.key('carol')}.pub`]);
    expect(add.status, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^carol may log in as build@HOST with ssh-ed25519 SHA256:\S+ \(carol@test\)\n/);
    expect(add.stdout).toContain(`rewrote ${authorizedKeys}`);
    const who = asBuild('carol', 'whoami --json');
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toEqual({ principal: 'carol', pockets: ['dev'], admin: false });
    // The line OpenSSH reads: restricted, forced to pocketbuild as carol.
    const line = fs
      .readFileSync(authorizedKeys, 'utf8')
      .split('\n')
      .find((l) => l.includes('carol@test'))!;
    expect(line).toMatch(
      /^restrict,command="\S+\/bin\/pocketbuild-ssh --node \S+ --config \S+ --socket \S+ --principal carol" ssh-ed25519 /,
    );
    expect(fs.statSync(authorizedKeys).mode & 0o777).toBe(0o600);
    const viaSshd = viaOpenSsh('carol', 'whoami --json');
    expect(viaSshd.code, viaSshd.stderr).toBe(0);
    expect(JSON.parse(viaSshd.stdout)).toMatchObject({ principal: 'carol' });
    // Added twice: nothing changes.
    const again = admin(['user', 'add', 'carol', '--key', `${keys.key('carol')}.pub`]);
    expect(again.stdout).toBe('carol already logs in with that key; nothing changed\n');
  });

  it("refuses a key that is somebody else's, a private key and a bad name, changing nothing", () => {
    const before = fs.readFileSync(authorizedKeys, 'utf8');
    const taken = admin(['user', 'add', 'dave', '--key', `${keys.key('carol')}.pub`]);
    expect(taken.status).toBe(5);
    expect(taken.stderr).toMatch(/^pocketbuild: key SHA256:\S+ already logs in as carol\n$/);
    const secret = admin(['user', 'add', 'dave', '--key', keys.key('dave')]);
    expect(secret.status).toBe(2);
    expect(secret.stderr).toContain('is a private key; give the public one');
    const name = admin(['user', 'add', 'Dave!', '--key', `${keys.key('dave')}.pub`]);
    expect(name.status).toBe(2);
    const none = admin(['user', 'remove', 'nobody']);
    expect(none.status).toBe(4);
    expect(none.stderr).toBe('pocketbuild: no user nobody; see "pocketbuild user list"\n');
    expect(fs.readFileSync(authorizedKeys, 'utf8')).toBe(before);
    expect(asBuild('dave', 'whoami').code).toBe(255);
  });

  it('lists the keys, and remove takes them away at once; each change is audited', () => {
    const list = JSON.parse(admin(['user', 'list', '--json']).stdout) as Array<{ principal: string; source: string }>;
    expect(list).toEqual([expect.objectContaining({ principal: 'carol', source: 'user add', type: 'ssh-ed25519' })]);
    const rm = admin(['user', 'remove', 'carol']);
    expect(rm.status, rm.stderr).toBe(0);
    expect(rm.stdout).toContain('carol may no longer log in (1 key removed)');
    expect(asBuild('carol', 'whoami').code).toBe(255);
    expect(viaOpenSsh('carol', 'whoami').code).toBe(255);
    expect(fs.readFileSync(authorizedKeys, 'utf8')).not.toContain('carol@test');
    const audit = fs
      .readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; actor: string; data: { principal?: string } });
    expect(audit.filter((e) => e.type.startsWith('user.')).map((e) => [e.type, e.data.principal])).toEqual([
      ['user.added', 'carol'],
      ['user.removed', 'carol'],
    ]);
    expect(b.cli(['audit', 'verify']).status).toBe(0);
  });
});
