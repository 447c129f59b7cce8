import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { ClientKeys, OpenSshServer } from '../helpers/ssh.js';
import { SSH_POCKETS, SSH_PRINCIPALS, sshExtraYaml, sshScenario } from '../helpers/ssh-scenario.js';
import { tempDirForTestUser } from '../helpers/env.js';

/** The same scenario through real sshd with the fast forced command (bin/pocketbuild-ssh → the daemon's entry socket). */
describe('through OpenSSH with the fast client and the daemon entry socket', () => {
  let b: TestBuilder;
  let sshd: OpenSshServer;

  beforeAll(async () => {
    const keys = new ClientKeys(tempDirForTestUser('keys'), SSH_PRINCIPALS);
    b = new TestBuilder('fastssh', { pockets: SSH_POCKETS, extraYaml: sshExtraYaml({}, 2222) });
    const socket = path.join(b.stateDir, 'entry.sock');
    sshd = new OpenSshServer(b.root, keys, b.configFile, SSH_PRINCIPALS, {}, socket);
    await sshd.start();
    await b.startDaemon();
    expect(b.log()).toContain(`daemon: answering SSH commands on ${socket}`);
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
  });
  afterAll(async () => {
    await sshd?.stop();
    await b?.cleanup();
  });

  it('submit, status, log --follow, cancel, refusals, git push/clone with pocket-ref protection', async () => {
    await sshScenario(b, sshd);
    // The commands were answered by the daemon, not by Node forced commands.
    const audit = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.filter((e) => e.type === 'request.accepted' && e.data.verb === 'submit').length).toBeGreaterThan(0);
  });
});
