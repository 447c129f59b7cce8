import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { countingServer } from '../helpers/listener.js';

/**
 * A pocket with `sandbox: vm` builds in a disposable qemu VM: the real daemon, running as
 * the unprivileged test user, fetches a Debian kernel, boots it (KVM if usable, else
 * software emulation, which is what CI has), builds a small native package inside, reads
 * the outputs back through the framed output disk, and publishes them.
 */
describe('the vm sandbox', () => {
  let b: TestBuilder;
  let pkg: PackageRepo;

  beforeAll(async () => {
    b = new TestBuilder('vm-sandbox', { pockets: { isolated: { sandbox: 'vm' } } });
    await b.startDaemon();
    pkg = new PackageRepo(b.reposDir, 'pb-vm');
  });

  afterAll(async () => {
    pkg?.cleanup();
    await b?.cleanup();
  });

  it('builds and publishes a package in a VM', { timeout: 30 * 60_000 }, async () => {
    // jq is not in the base: it comes in through /debs and is installed offline in the guest.
    const commit = pkg.commitVersion({
      version: '1.0',
      greeting: 'built in a VM',
      buildDepends: 'jq',
      buildCommands: [
        'echo \'{"vm": "jq works"}\' | jq -r .vm',
        'echo "network interfaces: $$(ls /sys/class/net | tr "\\n" " ")"',
      ],
    });
    const t0 = Date.now();
    const id = b.submit('isolated', 'pb-vm', commit);
    const r = await b.waitFor(id, 30 * 60_000);
    const log = b.buildLog(id);
    const build = r.stages.find((s) => s.name === 'build');
    // Reported in the test output: the cost of the VM on this machine.
    console.log(
      `vm sandbox: request done in ${((Date.now() - t0) / 1000).toFixed(1)} s, build stage ${((build?.ms ?? 0) / 1000).toFixed(1)} s`,
    );
    expect(r.status, log).toBe('succeeded');

    // It ran in the guest: the guest init's banner, the accelerator, the guest's own report.
    expect(log).toMatch(/vm: booting guest kernel \S+ with accel (kvm|tcg)/);
    expect(log).toContain('pocketbuild-vm: guest kernel');
    expect(log).toContain('pocketbuild-vm: the build exited with status 0');
    expect(log).toMatch(/vm: the guest returned \d+ files/);
    expect(log).toMatch(/^ {2}jq \S+ \S+ sha256:[0-9a-f]{64}$/m);
    expect(log).toMatch(/^jq works\r?$/m);
    // -nic none: the guest has no network device at all, only loopback.
    expect(log).toMatch(/^network interfaces: lo \r?$/m);
    // Marks from the serial console still split the build stage.
    expect(r.stages.map((s) => s.name)).toEqual(
      expect.arrayContaining(['build', 'build.install', 'build.compile', 'build.collect', 'check', 'publish']),
    );

    const files = r.outputs.map((o) => o.file);
    expect(files).toEqual(expect.arrayContaining(['pb-vm_1.0_all.deb', 'pb-vm_1.0.dsc']));
    expect(files.some((f) => f.endsWith('.changes'))).toBe(true);
    expect(b.published('isolated')).toEqual(['pb-vm 1.0']);
    expect(b.git('pb-vm', ['rev-parse', 'refs/heads/isolated'])).toBe(commit);
  });

  it(
    'holds a hostile build: no network, no host file, and its outputs get the same checks',
    { timeout: 30 * 60_000 },
    async () => {
      const listener = await countingServer();
      const { port } = listener;
      const marker = path.join(b.root, 'pwned-by-vm');
      const hostile = new PackageRepo(b.reposDir, 'pb-vm-hostile');
      try {
        const commit = hostile.commitVersion({
          version: '1.0',
          buildCommands: [
            // The host's loopback and the usual qemu user-network gateway: neither exists here.
            `perl -MIO::Socket::INET -e 'for ("127.0.0.1:${port}", "10.0.2.2:${port}") { IO::Socket::INET->new(PeerAddr => $$_, Timeout => 3) and print "CONN" . "ECTED $$_\\n" or print "FAIL" . "ED $$_: $$@\\n" }'`, // (make echoes this line: those words appear only if printed)
            `touch ${marker} 2>/dev/null; ls /dev | tr '\\n' ' '; echo`,
          ],
          // A .deb that is a symlink to a file of the guest: the way back carries regular files only.
          binaryCommands: ['rm ../pb-vm-hostile_1.0_all.deb', 'ln -s /etc/passwd ../pb-vm-hostile_1.0_all.deb'],
        });
        const id = b.submit('isolated', 'pb-vm-hostile', commit);
        const r = await b.waitFor(id, 30 * 60_000);
        const log = b.buildLog(id);
        expect(r.status, log).toBe('failed');
        expect(r.code, log).toBe('BadOutputs');
        expect(r.reason).toContain('pb-vm-hostile_1.0_all.deb, which the build did not produce');
        expect(log).toContain('pocketbuild-vm: the build exited with status 0');
        expect(log).not.toContain('CONNECTED');
        // The attempts were made, and failed inside the guest.
        expect(log).toMatch(new RegExp(`^FAILED 127\\.0\\.0\\.1:${port}: `, 'm'));
        expect(log).toMatch(new RegExp(`^FAILED 10\\.0\\.2\\.2:${port}: .*unreachable`, 'mi'));
        expect(listener.count()).toBe(0);
        expect(fs.existsSync(marker)).toBe(false);
        // The guest's disks are not visible to the build: its /dev listing was printed (it has
        // null), and names none of them.
        const devLine = /^(?:\S+ )*null (?:\S+ )*\r?$/m.exec(log)?.[0];
        expect(devLine, "the build's ls /dev line").toBeDefined();
        expect(log).not.toMatch(/\bvd[a-z]\b/);
        expect(b.published('isolated')).not.toContain('pb-vm-hostile 1.0');
      } finally {
        listener.close();
        hostile.cleanup();
      }
    },
  );
});
