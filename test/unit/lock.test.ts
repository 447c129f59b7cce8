import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withLock } from '../../src/util/lock.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-lock-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('withLock', () => {
  it('says once that it waits when another holder has the lock, then runs after it', async () => {
    const target = path.join(tmp, 'a');
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = withLock(target, async () => {
      order.push('first');
      await new Promise<void>((r) => (releaseFirst = r));
      order.push('first done');
    });
    while (!order.includes('first')) await new Promise((r) => setTimeout(r, 5));
    let waits = 0;
    const second = withLock(target, async () => order.push('second'), { pollMs: 20, onWait: () => waits++ });
    await new Promise((r) => setTimeout(r, 100));
    expect(order).toEqual(['first']);
    releaseFirst();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'first done', 'second']);
    expect(waits).toBe(1);
  });

  it('says nothing when the lock is free', async () => {
    let waits = 0;
    expect(await withLock(path.join(tmp, 'b'), async () => 42, { onWait: () => waits++ })).toBe(42);
    expect(waits).toBe(0);
  });
});
