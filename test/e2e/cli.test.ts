import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, isRoot, testUser } from '../helpers/env.js';
import { TestBuilder } from '../helpers/builder.js';
import { PackageRepo } from '../helpers/packages.js';
import { COMMANDS, parserSpec, usageLine, type CommandHelp, type CommandName } from '../../src/cli/command-help.js';

/** The CLI as a user meets it: truthful help, one-line errors with the right exit code, nothing queued on bad input. */
describe('pocketbuild CLI', () => {
  let b: TestBuilder;
  let repo: PackageRepo;
  let commit: string;
  const queued = () => fs.readdirSync(path.join(b.root, 'queue')).filter((n) => n.endsWith('.json'));

  beforeAll(() => {
    b = new TestBuilder('cli', { pockets: { stable: {} } });
    repo = new PackageRepo(b.reposDir, 'pb-cli');
    commit = repo.commitVersion({ version: '1.0' });
  });
  afterAll(async () => {
    repo?.cleanup();
    await b?.cleanup();
  });

  it('prints help that lists every command, and refuses unknown commands and options', () => {
    const help = b.cli(['--help']);
    expect(help.status).toBe(0);
    for (const c of ['submit POCKET PACKAGE COMMIT', 'status [ID]', 'daemon', 'init', 'repo create NAME', 'start'])
      expect(help.stdout).toContain(c);
    const bad = b.cli(['frobnicate'], true);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('pocketbuild: unknown command "frobnicate"; see pocketbuild --help.\n');
    const opt = b.cli(['status', '--colour'], true);
    expect(opt.status).toBe(2);
    expect(opt.stderr).toBe('pocketbuild: unknown option --colour; see --help.\n');
  });

  it('gives each command its own help, with every option it takes, as COMMAND --help and help COMMAND', () => {
    for (const name of Object.keys(COMMANDS) as CommandName[]) {
      const a = b.cli([name, '--help']);
      const c = b.cli(['help', name]);
      expect(a.stdout, name).toBe(c.stdout);
      expect(a.stdout.split('\n')[0], name).toBe(usageLine(name).replace(/^usage/, 'Usage'));
      for (const o of Object.keys((COMMANDS[name] as CommandHelp).options ?? {}))
        expect(a.stdout, name).toContain(`--${o}`);
    }
    // Every option the parser accepts is documented somewhere a user looks.
    const everything = [b.cli(['--help']).stdout, ...Object.keys(COMMANDS).map((n) => b.cli(['help', n]).stdout)].join(
      '\n',
    );
    const spec = parserSpec();
    for (const o of [...spec.values, ...spec.flags].filter((o) => o !== 'h')) expect(everything).toContain(`--${o}`);
    const unknown = b.cli(['help', 'nope'], true);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe('pocketbuild: unknown command "nope"; see pocketbuild --help.\n');
  });

  it('refuses bad submissions with one line and the documented exit code, queueing nothing', () => {
    const cases: Array<[string[], number, string]> = [
      [['submit', 'nope', 'pb-cli', 'main'], 4, 'pocketbuild: unknown pocket nope (known: stable).\n'],
      [
        ['submit', 'stable', 'pb-absent', 'main'],
        4,
        'pocketbuild: unknown package pb-absent: there is no repository pb-absent.git on this builder; ask an admin to run "pocketbuild repo create pb-absent", then push to it.\n',
      ],
      [
        ['submit', 'Stable', 'pb-cli', 'main'],
        2,
        'pocketbuild: invalid pocket "Stable": a pocket is 1-64 of a-z, 0-9 and "-", starting with a letter or digit\n',
      ],
      [
        ['submit', 'stable', 'pb-cli', '--upload-pack=x'],
        2,
        'pocketbuild: unknown option --upload-pack; see --help.\n',
      ],
      [
        ['submit', 'stable', 'pb-cli', 'main..other'],
        2,
        'pocketbuild: invalid commit "main..other": give a commit id (4-40 hex digits) or a branch or tag name\n',
      ],
      [
        ['submit', 'stable', 'pb-cli'],
        2,
        'pocketbuild: usage: submit POCKET PACKAGE COMMIT [--json] (got 2 arguments)\n',
      ],
    ];
    for (const [args, code, err] of cases) {
      const r = b.cli(args, true);
      expect({ args, code: r.status, err: r.stderr }).toEqual({ args, code, err });
    }
    const missing = b.cli(['submit', 'stable', 'pb-cli', 'no-such-branch'], true);
    expect(missing.status).toBe(4);
    expect(missing.stderr.split('\n')).toHaveLength(2); // one line and the final newline
    expect(missing.stderr).toContain('no-such-branch');
    expect(queued()).toEqual([]);
  });

  it('queues a valid submission, resolving a branch to the full commit id, and shows it in status', () => {
    const id = b.submit('stable', 'pb-cli', 'main');
    expect(queued()).toEqual([`${id}.json`]);
    const req = JSON.parse(fs.readFileSync(path.join(b.root, 'queue', `${id}.json`), 'utf8'));
    expect(req).toMatchObject({ id, pocket: 'stable', package: 'pb-cli', commit, commit_spec: 'main', origin: 'cli' });
    const st = JSON.parse(b.cli(['status', '--json']).stdout);
    expect(st.active).toEqual([expect.objectContaining({ id, status: 'queued', commit })]);
    expect(b.cli(['status', id]).stdout).toContain(`${id}  queued`);
    const none = b.cli(['status', '0000000000000000'], true);
    expect(none.status).toBe(4);
  });

  it('puts every local submission and refusal in the audit log, with the principal', () => {
    const entries = fs
      .readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            actor: string;
            build?: string;
            data: { origin: string; raw: string; code?: string };
          },
      );
    const refused = entries.filter((e) => e.type === 'request.refused');
    expect(refused.map((e) => e.data.raw)).toEqual(
      expect.arrayContaining([
        'submit nope pb-cli main',
        'submit stable pb-absent main',
        'submit stable pb-cli no-such-branch',
      ]),
    );
    // The principal of a local run is the name of the user who ran it: b.cli runs as the test
    // user (pbtest when we are root, else ourselves).
    const actor = testUser().name;
    expect(refused.map((e) => [e.data.raw, e.data.origin, e.actor])).toEqual(
      refused.map((e) => [e.data.raw, 'cli', actor]),
    );
    // The codes a build of them would end with too (UnknownPocket, UnknownPackage).
    const codeOf = (raw: string) => refused.find((e) => e.data.raw === raw)?.data.code;
    expect(['submit nope pb-cli main', 'submit stable pb-absent main'].map(codeOf)).toEqual([
      'UnknownPocket',
      'UnknownPackage',
    ]);
    // Reads are audited as over SSH; one submit was accepted.
    const accepted = entries.filter(
      (e) => e.type === 'request.accepted' && (e.data as { verb?: string }).verb === 'submit',
    );
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.build).toBe(queued()[0]!.replace(/\.json$/, ''));
    expect(accepted[0]).toMatchObject({
      actor,
      data: { origin: 'cli', verb: 'submit', raw: 'submit stable pb-cli main', pocket: 'stable', package: 'pb-cli' },
    });
    expect(b.cli(['audit', 'verify']).status).toBe(0);
  });

  it.runIf(isRoot())(
    "run by root, becomes the owner of the state, so the daemon's user can still write what it touched",
    () => {
      const st = fs.statSync(b.stateDir);
      expect(st.uid).not.toBe(0);
      const r = spawnSync('node', [CLI, '--config', b.configFile, 'submit', 'stable', 'pb-cli', 'main'], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      const id = r.stdout.trim();
      expect(fs.statSync(path.join(b.root, 'queue', `${id}.json`)).uid).toBe(st.uid);
      expect(fs.statSync(path.join(b.stateDir, 'audit.log')).uid).toBe(st.uid);
      // The principal is still who ran it.
      const last = fs.readFileSync(path.join(b.stateDir, 'audit.log'), 'utf8').trim().split('\n').pop()!;
      expect(JSON.parse(last)).toMatchObject({ type: 'request.accepted', actor: 'root', build: id });
      fs.rmSync(path.join(b.root, 'queue', `${id}.json`));
    },
  );

  it('doctor checks this machine as the user who builds, and says how to fix what is missing', () => {
    const r = b.cli(['doctor', '--json'], true);
    const checks = JSON.parse(r.stdout) as Array<{ name: string; ok: boolean; fix?: string }>;
    expect(checks.find((c) => c.name === 'user namespaces')?.ok).toBe(true);
    expect(checks.find((c) => c.name === 'bwrap')?.ok).toBe(true);
    expect(checks.filter((c) => !c.ok).every((c) => (c.fix ?? '').length > 0)).toBe(true);
    expect(r.status).toBe(checks.some((c) => !c.ok) ? 1 : 0);
    const text = b.cli(['doctor'], true).stdout;
    expect(text).toMatch(/^ok {3}bwrap: \/\S+\/bwrap$/m);
  });

  it('names the file, line and key of a configuration error and exits 6', () => {
    const bad = path.join(b.root, 'bad.yml');
    fs.writeFileSync(bad, 'state_dir: /tmp/x\npockets:\n  stable:\n    sute: stable\n');
    const run = b.cliWithConfig(bad, ['status']);
    expect(run.status).toBe(6);
    expect(run.stderr).toMatch(
      new RegExp(`^pocketbuild: ${bad}:4: unknown key "pockets.stable.sute" \\(did you mean "suite"\\?`),
    );
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
