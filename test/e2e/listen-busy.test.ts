import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { freePort } from '../helpers/ssh.js';

/**
 * A second `start` (or a port taken by anything else) ends with one line saying which address
 * and port, and a non-zero exit; before, it printed `internal error: listen EADDRINUSE` with a
 * stack trace and never exited, its daemon still running.
 */
describe('a port in use', () => {
  let busy: net.Server;
  let port: number;

  beforeAll(async () => {
    busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    port = (busy.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  it.each([
    [
      'ssh',
      /^pocketbuild: the SSH server cannot listen on 127\.0\.0\.1 port \d+: the port is in use .*; stop what uses it, or choose another ssh\.port$/,
    ],
    [
      'web',
      /^pocketbuild: the web server cannot listen on 127\.0\.0\.1 port \d+: .*EADDRINUSE.*; choose another web\.listen or web\.port$/,
    ],
  ])('taken from the %s server: start says so in one line and exits', async (which, expected) => {
    const sshPort = which === 'ssh' ? port : await freePort();
    const webPort = which === 'web' ? port : await freePort();
    const b = new TestBuilder(`busy-${which}`, {
      pockets: { stable: {} },
      extraYaml: [
        'ssh:',
        '  listen: 127.0.0.1',
        `  port: ${sshPort}`,
        'web:',
        '  listen: 127.0.0.1',
        `  port: ${webPort}`,
      ].join('\n'),
    });
    try {
      const r = b.cli(['start'], true);
      expect(r.signal, 'start did not exit by itself').toBeNull();
      expect(r.status, r.stderr).toBe(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines.at(-1)).toMatch(expected);
      expect(r.stderr).not.toMatch(/internal error|^\s+at /m);
      // Nothing was left listening or building: the daemon never started.
      expect(r.stderr).not.toContain('daemon: watching');
    } finally {
      await b.cleanup();
    }
  });
});
