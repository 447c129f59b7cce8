import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { ClientKeys, EmbeddedServer, freePort } from '../helpers/ssh.js';
import { SSH_POCKETS, SSH_PRINCIPALS, sshExtraYaml, sshScenario } from '../helpers/ssh-scenario.js';
import { tempDirForTestUser } from '../helpers/env.js';

describe('through the embedded ssh2 server', () => {
  let b: TestBuilder;
  let server: EmbeddedServer;

  beforeAll(async () => {
    const keys = new ClientKeys(tempDirForTestUser('keys'), SSH_PRINCIPALS);
    const port = await freePort();
    const users = Object.fromEntries(SSH_PRINCIPALS.map((p) => [p, keys.publicKey(p)]));
    b = new TestBuilder('embedded', { pockets: SSH_POCKETS, extraYaml: sshExtraYaml(users, port) });
    server = new EmbeddedServer(keys, b.configFile, port, path.join(b.root, 'ssh-server.log'));
    await server.start();
    await b.startDaemon();
  });
  afterAll(async () => {
    await server?.stop();
    await b?.cleanup();
  });

  it('submit, status, log --follow, cancel, refusals, git push/clone with pocket-ref protection', async () => {
    await sshScenario(b, server);
  });
});
