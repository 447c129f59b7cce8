import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { run, runChecked } from '../../src/util/run.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); ps tells them apart.
    return !/Z/.test(spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout);
  } catch {
    return false;
  }
}

describe('run', () => {
  it('captures output, streams it to the log, and says how the process ended', async () => {
    const log = new PassThrough();
    const seen: Buffer[] = [];
    log.on('data', (c: Buffer) => seen.push(c));
    const r = await run(['sh', '-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 10_000, log });
    expect(r).toMatchObject({
      code: 3,
      stdout: 'out\n',
      stderr: 'err\n',
      how: 'exited with status 3',
      timedOut: false,
    });
    expect(Buffer.concat(seen).toString()).toContain('out\n');
  });

  it('feeds stdin when asked and closes it otherwise', async () => {
    expect((await run(['cat'], { timeoutMs: 10_000, input: 'data' })).stdout).toBe('data');
    expect((await run(['cat'], { timeoutMs: 10_000 })).stdout).toBe('');
  });

  it('kills the whole process group at the time limit, grandchildren included', async () => {
    const r = await run(['sh', '-c', 'sleep 300 & echo $!; wait'], { timeoutMs: 500, graceMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.how).toBe('killed by SIGTERM after the 500ms limit');
    const grandchild = Number(r.stdout.trim());
    expect(grandchild).toBeGreaterThan(0);
    expect(alive(grandchild)).toBe(false);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const r = await run(['sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'], { timeoutMs: 300, graceMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
  });

  it('reports a cancel distinctly', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await run(['sleep', '30'], { timeoutMs: 30_000, signal: ac.signal, graceMs: 200 });
    expect(r.cancelled).toBe(true);
    expect(r.how).toMatch(/^cancelled/);
  });

  it('takes its children down when the parent process is SIGKILLed', async () => {
    // A parent node process that runs `sleep` through run() and then dies hard.
    const script = `import { run } from ${JSON.stringify(new URL('../../src/util/run.ts', import.meta.url).pathname.replace(/\.ts$/, '.js').replace('/src/', '/dist/'))};
      run(['sh', '-c', 'echo $$; exec sleep 300'], { timeoutMs: 60000, log: process.stdout });`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve) =>
      parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await new Promise((r) => parent.once('exit', r));
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(false);
  });

  it('runChecked turns a failure into one line naming the command and its stderr', async () => {
    await expect(
      runChecked(['sh', '-c', 'echo boom >&2; exit 2'], { timeoutMs: 10_000, what: 'the thing' }),
    ).rejects.toThrow('the thing exited with status 2: boom');
  });
});
