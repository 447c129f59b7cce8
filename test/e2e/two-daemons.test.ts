import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { writeExecutable } from '../helpers/env.js';

/** Two daemons on one queue and one state directory (as two hosts on NFS would be) build every request exactly once. */
describe('two daemons sharing a queue', () => {
  let b: TestBuilder;
  const repos: PackageRepo[] = [];
  let seen: string;

  beforeAll(async () => {
    b = new TestBuilder('twodaemons', { pockets: { stable: {} } });
    seen = path.join(b.root, 'started');
    writeExecutable(
      path.join(b.hooksDir, 'count'),
      `#!/bin/sh\n[ "$POCKETBUILD_EVENT" = started ] && echo "$POCKETBUILD_ID" >> ${seen}\nexit 0\n`,
    );
    await b.startDaemon();
    await b.startDaemon();
  });
  afterAll(async () => {
    repos.forEach((r) => r.cleanup());
    await b?.cleanup();
  });

  it('claims each request once; all succeed', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = new PackageRepo(b.reposDir, `pb-two-${i}`);
      repos.push(r);
      ids.push(b.submit('stable', r.name, r.commitVersion({ version: '1.0' })));
    }
    const results = await Promise.all(ids.map((id) => b.waitFor(id)));
    const failures = results
      .map((r, i) => (r.status === 'succeeded' ? '' : `${ids[i]}: ${r.reason}\n${b.buildLog(ids[i]!)}`))
      .filter(Boolean);
    expect(failures.join('\n')).toBe('');
    const started = fs.readFileSync(seen, 'utf8').split('\n').filter(Boolean).sort();
    expect(started).toEqual([...ids].sort());
    expect(b.published('stable')).toEqual(ids.map((_, i) => `pb-two-${i} 1.0`));
  });
});
