import { afterAll, beforeAll, describe, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { ClientKeys, OpenSshServer } from '../helpers/ssh.js';
import { SSH_POCKETS, SSH_PRINCIPALS, sshExtraYaml, sshScenario } from '../helpers/ssh-scenario.js';
import { tempDirForTestUser } from '../helpers/env.js';

describe('through a real OpenSSH sshd with forced commands', () => {
  let b: TestBuilder;
  let sshd: OpenSshServer;

  beforeAll(async () => {
    const keys = new ClientKeys(tempDirForTestUser('keys'), SSH_PRINCIPALS);
    b = new TestBuilder('openssh', { pockets: SSH_POCKETS, extraYaml: sshExtraYaml({}, 2222) });
    sshd = new OpenSshServer(b.root, keys, b.configFile, SSH_PRINCIPALS);
    await sshd.start();
    await b.startDaemon();
  });
  afterAll(async () => {
    await sshd?.stop();
    await b?.cleanup();
  });

  it('submit, status, log --follow, cancel, refusals, git push/clone with pocket-ref protection', async () => {
    await sshScenario(b, sshd);
  });
});
