import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';

/** When the build stage ran, from the log's "==> build (ISO time)" and the stage's duration. */
function buildStage(log: string, stages: Array<{ name: string; ms: number }>): { from: number; to: number } {
  const m = /^==> build \((\S+)\)$/m.exec(log);
  if (!m) throw new Error(`no build stage in the log:\n${log}`);
  const ms = stages.find((s) => s.name === 'build')!.ms;
  return { from: Date.parse(m[1]!), to: Date.parse(m[1]!) + ms };
}

/**
 * Two build slots: two builds run at the same time, both succeed, and neither can see the
 * other: each plants a secret in its own build tree and looks for the other's everywhere it
 * can (the file system by name, every process's argv and environment).
 */
describe('daemon.slots: 2', () => {
  let b: TestBuilder;
  const repos: PackageRepo[] = [];

  beforeAll(async () => {
    b = new TestBuilder('slots', { pockets: { stable: {} }, slots: 2 });
    await b.startDaemon();
  });
  afterAll(async () => {
    repos.forEach((r) => r.cleanup());
    await b?.cleanup();
  });

  it("runs two builds at once, both succeed, and neither sees the other's files or processes", async () => {
    const names = ['pb-slot-a', 'pb-slot-b'];
    const secrets = names.map(() => `PBSLOT-${crypto.randomBytes(12).toString('hex')}`);
    const ids = names.map((name, i) => {
      const r = new PackageRepo(b.reposDir, name);
      repos.push(r);
      const look = [
        '#!/bin/sh',
        // Its own secret, in its build tree and in long-lived processes' argv and environment
        // (two processes: setting perl's $0 blanks its /proc/PID/environ).
        `echo "${secrets[i]}" > pbslot-secret-${name}`,
        `perl -e '$0 = "pbslot-proc ${secrets[i]}"; sleep 30' &`,
        `PBSLOT_ENV=${secrets[i]} sleep 30 &`,
        // The same probes find this build's own secret, so they are not blind to the other's.
        'sleep 1',
        `find / \\( -path /proc -o -path /sys \\) -prune -o -name "pbslot-secret-*" -print 2>/dev/null | grep -q "pbslot-secret-${name}$" && echo "SEES OWN FILE"`,
        `for p in /proc/[0-9]*; do tr "\\\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -q "^pbslot-proc PBSLO[T]-" && echo "SEES OWN PROCESS"`,
        `for p in /proc/[0-9]*; do tr "\\\\0" "\\\\n" < $p/environ 2>/dev/null; echo; done | grep -q "^PBSLOT_ENV=PBSLO[T]-" && echo "SEES OWN ENVIRONMENT"`,
        'for round in 1 2 3 4 5 6; do',
        `  find / \\( -path /proc -o -path /sys \\) -prune -o -name "pbslot-secret-*" -print 2>/dev/null | grep -v "pbslot-secret-${name}$" | while read -r f; do echo "FOUND FILE $f"; cat "$f"; done`,
        `  for p in /proc/[0-9]*; do tr "\\\\0" " " < $p/cmdline 2>/dev/null; tr "\\\\0" "\\\\n" < $p/environ 2>/dev/null; echo; done | grep "PBSLO[T]-" | grep -v "${secrets[i]}" | sed "s/^/FOUND PROCESS /"`,
        '  sleep 1',
        'done',
        `echo "SCANNED ${name}"`,
      ].join('\n');
      // Kept out of the .deb, so the secret lives only in the build tree and the processes.
      const commit = r.commitVersion({ version: '1.0', files: { 'look.sh': look }, buildCommands: ['sh look.sh'] });
      return b.submit('stable', name, commit);
    });
    const results = await Promise.all(ids.map((id) => b.waitFor(id)));
    const logs = ids.map((id) => b.buildLog(id));
    results.forEach((r, i) => expect(r.status, logs[i]).toBe('succeeded'));

    // They overlapped: each one's build stage began before the other's ended.
    const [x, y] = results.map((r, i) => buildStage(logs[i]!, r.stages));
    expect(x!.from < y!.to && y!.from < x!.to, `build stages ${JSON.stringify([x, y])}`).toBe(true);

    for (const [i, log] of logs.entries()) {
      expect(log).toContain(`SCANNED ${names[i]}`);
      expect(log).toContain('SEES OWN FILE');
      expect(log).toContain('SEES OWN PROCESS');
      expect(log).toContain('SEES OWN ENVIRONMENT');
      expect(log).not.toContain('FOUND FILE');
      expect(log).not.toContain('FOUND PROCESS');
      expect(log).not.toContain(secrets[1 - i]);
    }
    expect(b.published('stable')).toEqual(['pb-slot-a 1.0', 'pb-slot-b 1.0']);
  });
});
