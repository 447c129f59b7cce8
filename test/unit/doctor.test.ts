import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { doctorChecks, realProbe, type Check, type Probe } from '../../src/cli/doctor-command.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-doctor-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function config(extra = '') {
  const file = path.join(tmp, `config-${Math.random().toString(36).slice(2)}.yml`);
  fs.writeFileSync(file, `state_dir: ${tmp}/state\npockets:\n  dev:\n    suite: dev\n${extra}`);
  return loadConfig(file);
}

/** A machine where everything is right; each test breaks one thing. */
function healthy(over: Partial<Probe> = {}): Probe {
  return {
    run: async () => ({ code: 0, stdout: '/usr/bin/x\n', stderr: '' }),
    readFile: (f) =>
      f.endsWith('subuid') || f.endsWith('subgid') ? 'builder:100000:65536\n' : f.includes('userns') ? '1\n' : null,
    stat: () => ({ mode: 0o100600, uid: 1000 }),
    freeBytes: () => 50 * 1024 ** 3,
    cannotListen: async () => null,
    cannotConnect: async () => null,
    accessible: () => true,
    user: { name: 'builder', uid: 1000 },
    ...over,
  };
}

const failed = (checks: Check[]) => checks.filter((c) => !c.ok);

describe('doctor', () => {
  it('finds nothing wrong on a healthy machine', async () => {
    expect(failed(await doctorChecks(config(), healthy()))).toEqual([]);
  });

  it('names the package of a missing program', async () => {
    const probe = healthy({
      run: async (argv) =>
        argv.includes('bwrap') ? { code: 1, stdout: '', stderr: '' } : { code: 0, stdout: '/usr/bin/x', stderr: '' },
    });
    expect(failed(await doctorChecks(config(), probe))).toEqual([
      { name: 'bwrap', ok: false, detail: 'bwrap is not installed', fix: 'apt-get install -y bubblewrap' },
    ]);
  });

  it('gives the usermod line for a user without subordinate ids', async () => {
    const probe = healthy({ readFile: (f) => (f.includes('sub') ? 'someone:100000:65536\n' : null) });
    const bad = failed(await doctorChecks(config(), probe));
    expect(bad.map((c) => c.name)).toEqual(['subuid range', 'subgid range']);
    expect(bad[0]!.fix).toMatch(/^usermod --add-subuids 100000-165535 --add-subgids 100000-165535 builder/);
  });

  it('says chmod 600 for a private key others can read, and init for missing keys', async () => {
    const open = healthy({
      stat: (f) => (f.endsWith('builder.key') ? { mode: 0o100644, uid: 1000 } : { mode: 0o100600, uid: 1000 }),
    });
    const key = failed(await doctorChecks(config(), open));
    expect(key).toEqual([
      expect.objectContaining({ name: 'builder key', fix: `chmod 600 ${tmp}/state/keys/builder.key` }),
    ]);
    const missing = healthy({
      stat: (f) => (f.includes('/keys/') || f.endsWith('gnupg') ? null : { mode: 0o40700, uid: 1000 }),
    });
    const cfg = config();
    expect(failed(await doctorChecks(cfg, missing)).map((c) => [c.name, c.fix])).toEqual([
      ['builder key', `pocketbuild --config ${cfg.file} init`],
      ['builder public key', `pocketbuild --config ${cfg.file} init`],
      ['signing key', `pocketbuild --config ${cfg.file} init`],
    ]);
  });

  it('warns of a port in use, naming the key to change, and fails one it cannot listen on', async () => {
    const probe = healthy({
      cannotListen: async (_h, port) => (port === 2222 ? 'in use' : 'listen EACCES: permission denied'),
    });
    const cfg = config();
    const checks = await doctorChecks(cfg, probe);
    expect(checks.find((c) => c.name === 'ssh port')).toEqual({
      name: 'ssh port',
      ok: true,
      warn: true,
      detail: '127.0.0.1:2222 is in use: fine if this builder is running, else something else holds it',
      fix: `stop what listens there (ss -ltnp 'sport = :2222') or change ssh.port in ${cfg.file}`,
    });
    expect(failed(checks)).toEqual([
      {
        name: 'web port',
        ok: false,
        detail: '127.0.0.1:8080: listen EACCES: permission denied',
        fix: `change web.port in ${cfg.file}`,
      },
    ]);
  });

  it('checks the mail server and low disk space only where they matter, KVM only for vm pockets', async () => {
    const probe = healthy({
      cannotConnect: async () => 'connect ECONNREFUSED',
      freeBytes: () => 2 * 1024 ** 3,
      accessible: (f) => f !== '/dev/kvm',
    });
    const quiet = await doctorChecks(config(), probe);
    expect(failed(quiet).map((c) => c.name)).toEqual([`disk space ${tmp}/state`, `disk space ${tmp}/state/cache`]);
    expect(quiet.some((c) => c.name === 'kvm')).toBe(false);
    const all = await doctorChecks(
      config('    sandbox: vm\nmail:\n  smtp_host: 127.0.0.1\n  tls: none\n  smtp_port: 2525\n'),
      probe,
    );
    expect(failed(all).map((c) => c.name)).toContain('mail server');
    expect(all.find((c) => c.name === 'kvm')).toMatchObject({ ok: true, warn: true });
  });

  it('refuses to vouch for root', async () => {
    const bad = failed(await doctorChecks(config(), healthy({ user: { name: 'root', uid: 0 } })));
    expect(bad.map((c) => c.name)).toContain('account');
  });

  it('on this machine, with the real probe, finds bubblewrap and the free ports it checks', async () => {
    const checks = await doctorChecks(config('ssh:\n  port: 1\n'), realProbe());
    expect(checks.find((c) => c.name === 'bwrap')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/\/bwrap$/),
    });
    expect(checks.find((c) => c.name === 'user namespaces')?.ok).toBe(true);
  });
});
