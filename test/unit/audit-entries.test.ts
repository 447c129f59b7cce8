import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_ENTRIES, auditTable } from '../../src/record/audit-entries.js';
import { AuditLog, type AuditEvent } from '../../src/record/audit-log.js';
import { loadConfig } from '../../src/config/load.js';
import { checkPush, queueAutoBuilds } from '../../src/entry/push-hooks.js';
import { runCommand } from '../../src/entry/run-command.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The lines of README.md's "Audit log" section, and where its table starts and ends in them. */
function readmeTable(lines: string[]): { first: number; table: string } {
  const at = lines.indexOf('## Audit log');
  expect(at, 'README.md needs a section "## Audit log"').toBeGreaterThan(0);
  const next = lines.findIndex((l, i) => i > at && l.startsWith('## '));
  const section = lines.slice(at + 1, next < 0 ? lines.length : next);
  const start = section.findIndex((l) => l.startsWith('| type |'));
  expect(start, 'the "Audit log" section needs a table whose first column is "type"').toBeGreaterThanOrEqual(0);
  const end = section.findIndex((l, i) => i > start && !l.startsWith('|'));
  return { first: at + 1 + start, table: section.slice(start, end < 0 ? section.length : end).join('\n') + '\n' };
}

describe('README.md', () => {
  it('lists exactly the audit entry types of src/record/audit-entries.ts, each with its data fields', () => {
    const file = path.join(root, 'README.md');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const { first, table } = readmeTable(lines);
    if (table !== auditTable() && process.env.UPDATE_README === '1') {
      const old = table.trimEnd().split('\n').length;
      const fresh = auditTable().trimEnd().split('\n');
      fs.writeFileSync(file, [...lines.slice(0, first), ...fresh, ...lines.slice(first + old)].join('\n'));
      return;
    }
    // The types first, so that a missing or extra one is named rather than buried in a diff.
    const types = table
      .trimEnd()
      .split('\n')
      .slice(2)
      .map((row) => /^\| `([^`]+)` \|/.exec(row)?.[1]);
    expect(types).toEqual(Object.keys(AUDIT_ENTRIES));
    // To regenerate: UPDATE_README=1 npx vitest run test/unit/audit-entries.test.ts
    expect(table).toBe(auditTable());
  });
});

describe('audit entry types', () => {
  it('are enforced by the compiler', () => {
    // These only need to type-check (tsconfig.test.json): each @ts-expect-error must be an error.
    const log = new AuditLog(os.tmpdir());
    const unwritten = [
      () =>
        log.append({
          type: 'request.refused',
          actor: 'x',
          // @ts-expect-error a refusal carries its outcome code
          data: { origin: 'push', verb: 'submit', reason: 'No.' },
        }),
      () =>
        log.append({
          type: 'request.refused',
          actor: 'x',
          // @ts-expect-error ... which is one of the catalogue's
          data: { origin: 'ssh', verb: null, code: 'Refused', reason: 'No.' },
        }),
      // @ts-expect-error the ways in are cli, ssh and push
      () => log.append({ type: 'request.accepted', actor: 'x', data: { origin: 'web', verb: 'submit' } }),
      // @ts-expect-error data is the shape of its type, with no field it does not have
      () => log.append({ type: 'request.accepted', actor: 'x', data: { origin: 'cli', verb: 'submit', n: 1 } }),
      // @ts-expect-error a cancel's state is queued or running
      () => log.append({ type: 'cancel', actor: 'x', data: { state: 'done' } }),
      // @ts-expect-error so is an event's, whatever its type
      (): AuditEvent<'cancel'> => ({ type: 'cancel', actor: 'x', data: { state: 'done' } }),
    ];
    expect(unwritten).toHaveLength(6);
  });
});

describe('every way in', () => {
  let dir: string;
  let out: string;
  const sink = () =>
    new Writable({
      write(chunk, _enc, done) {
        out += String(chunk);
        done();
      },
    });
  const entries = () =>
    fs
      .readFileSync(path.join(dir, 'state', 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; actor: string; build?: string; data: Record<string, unknown> });
  const config = () => {
    const file = path.join(dir, 'config.yml');
    fs.writeFileSync(
      file,
      [
        'state_dir: state',
        'repos_dir: repos',
        'pockets:',
        '  stable: {suite: stable, acl: [carol]}',
        '  dev: {suite: dev, acl: ["*"]}',
        'auto_build:',
        '  - {branch: main, pocket: stable, package: "*"}',
        '  - {branch: main, pocket: dev, package: "*"}',
      ].join('\n') + '\n',
    );
    return loadConfig(file);
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-audit-entries-'));
    fs.mkdirSync(path.join(dir, 'state', 'locks'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'repos'));
    out = '';
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("logs a push's auto_build refusals with the same fields as any refusal, and an outcome code", async () => {
    const cfg = config();
    const audit = new AuditLog(cfg.state_dir);
    const commit = 'a'.repeat(40);
    // pb-gone has no repository, so the dev rule, which alice may use, fails to queue.
    await queueAutoBuilds(
      cfg,
      audit,
      'pb-gone',
      'alice',
      [{ old: '0'.repeat(40), new: commit, ref: 'refs/heads/main' }],
      sink(),
    );
    const refused = entries().filter((e) => e.type === 'request.refused');
    const request = { origin: 'push', verb: 'submit', package: 'pb-gone', commit, branch: 'main' };
    expect(refused).toEqual(
      [
        {
          type: 'request.refused',
          actor: 'alice',
          data: {
            ...request,
            pocket: 'stable',
            code: 'AccessDenied',
            reason: expect.stringContaining('alice may not build into stable'),
          },
        },
        {
          type: 'request.refused',
          actor: 'alice',
          data: {
            ...request,
            pocket: 'dev',
            code: 'UnknownPackage',
            reason: expect.stringContaining('unknown package pb-gone'),
          },
        },
      ].map((e) => expect.objectContaining(e)),
    );
    expect(out).toContain('not building pb-gone main into stable');
  });

  it('logs a refused push of pocket refs with its code', async () => {
    const cfg = config();
    const ok = await checkPush(
      cfg,
      new AuditLog(cfg.state_dir),
      'pb-x',
      'alice',
      [{ old: '0'.repeat(40), new: 'b'.repeat(40), ref: 'refs/tags/stable/1.0' }],
      sink(),
    );
    expect(ok).toBe(false);
    expect(entries()).toEqual([
      expect.objectContaining({
        type: 'git.push.refused',
        data: { package: 'pb-x', refs: ['refs/tags/stable/1.0'], code: 'AccessDenied', reason: expect.any(String) },
      }),
    ]);
  });

  it('logs a local submit refusal with the same fields as an SSH one', async () => {
    const cfg = config();
    let said = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        said += chunk.toString();
        cb();
      },
    });
    const code = await runCommand({
      config: cfg,
      principal: 'carol',
      raw: 'submit stable pb-gone main',
      io: { stdin: process.stdin, stdout: sink, stderr: sink },
      transport: 'local',
    });
    expect(code).toBe(4);
    expect(said).toMatch(/^pocketbuild: unknown package pb-gone/);
    expect(entries()).toEqual([
      expect.objectContaining({
        type: 'request.refused',
        actor: 'carol',
        data: {
          origin: 'cli',
          verb: 'submit',
          raw: 'submit stable pb-gone main',
          pocket: 'stable',
          package: 'pb-gone',
          code: 'UnknownPackage',
          reason: expect.stringContaining('unknown package pb-gone'),
        },
      }),
    ]);
  });
});
