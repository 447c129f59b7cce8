import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runHostTool } from '../../src/sandbox/host-tool.js';
import { countingServer } from '../helpers/listener.js';

/**
 * pristine-tar and tar run over repository data on the host, in runHostTool's sandbox: these
 * are the attacks a hostile delta exploiting them would try, made directly.
 */
describe('host tool sandbox', () => {
  let root: string;
  let work: string;
  let secret: string;
  let log: string;
  const sink = () =>
    new Writable({
      write(c, _e, cb) {
        log += String(c);
        cb();
      },
    });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-hosttool-'));
    work = path.join(root, 'work');
    fs.mkdirSync(path.join(work, 'up'), { recursive: true });
    secret = path.join(root, 'gnupg', 'private-keys');
    fs.mkdirSync(path.dirname(secret));
    fs.writeFileSync(secret, 'SECRET-KEY-MATERIAL\n');
    log = '';
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const attempt = (script: string) =>
    runHostTool(['bash', '-c', script], {
      workDir: work,
      cwd: path.join(work, 'up'),
      timeoutMs: 30_000,
      log: sink(),
      what: 'attack',
    }).then(
      () => 0,
      () => 1,
    );

  it('sees and writes only its work directory', async () => {
    expect(await attempt('pwd; echo made > out.txt')).toBe(0);
    expect(log).toContain(path.join(work, 'up'));
    expect(fs.readFileSync(path.join(work, 'up', 'out.txt'), 'utf8')).toBe('made\n');
  });

  it("cannot read the host's secrets or home directories", async () => {
    expect(await attempt(`cat ${secret}`)).toBe(1);
    expect(await attempt('ls /root /home /var /srv /etc/ssh')).toBe(1);
    expect(log).not.toContain('SECRET-KEY-MATERIAL');
    expect(log).toMatch(/No such file or directory/);
  });

  it('cannot write anywhere on the host outside its work directory', async () => {
    const marker = path.join(root, 'gnupg', 'planted');
    // Each write is tried (whatever becomes of the others), then one into the work directory,
    // which must reach the host: the tool ran, and what it wrote elsewhere stayed inside.
    expect(
      await attempt(`for f in ${marker} /usr/planted ../../planted; do echo x > "$f"; done; echo x > reached`),
    ).toBe(0);
    expect(fs.readFileSync(path.join(work, 'up', 'reached'), 'utf8')).toBe('x\n');
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync('/usr/planted')).toBe(false);
    expect(fs.existsSync(path.join(root, 'planted'))).toBe(false);
  });

  it("has no network, not even the host's loopback", async () => {
    const server = await countingServer();
    try {
      // The attempt runs (the script ends normally) and fails inside; the listener sees nothing.
      expect(
        await attempt(
          `if echo hi > /dev/tcp/127.0.0.1/${server.port}; then echo NET-REACHED; else echo NET-UNREACHED; fi`,
        ),
      ).toBe(0);
      expect(log).toContain('NET-UNREACHED');
      expect(log).not.toContain('NET-REACHED');
      expect(server.count()).toBe(0);
    } finally {
      server.close();
    }
  });
});
