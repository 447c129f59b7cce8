import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessDenied, decide, requireRight, type Right } from '../../src/acl/index.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { ExitCode, type PocketbuildError } from '../../src/util/errors.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-acl-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Configs go through the real loader, so the tests see what the daemon and entry points see. */
function config(...lines: string[]): Config {
  const file = path.join(dir, 'config.yml');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return loadConfig(file);
}

function script(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

const BASE = [
  'groups:',
  '  release: [alice, bob]',
  '  ops: [olga]',
  'admins: [group:ops, root]',
  'pockets:',
  '  prod: {suite: prod, acl: [group:release, carol]}',
  '  dev: {suite: dev, acl: ["*"]}',
  '  closed: {suite: closed}',
  'repo_defaults:',
  '  push: [group:release]',
  'repos:',
  '  secret-tool:',
  '    push: [dave]',
  '    read: [group:ops]',
  '  open-thing:',
  '    push: ["*"]',
];

async function reason(cfg: Config, principal: string, right: Right): Promise<[boolean, string]> {
  const d = await decide(cfg, principal, right);
  return [d.allowed, d.reason];
}

describe('pocket acls', () => {
  it('allows principals listed by name, through a group, or by "*", and says which entry let them in', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'carol', { kind: 'build', pocket: 'prod' })).toEqual([
      true,
      'carol may build into prod (acl: carol)',
    ]);
    expect(await reason(cfg, 'bob', { kind: 'build', pocket: 'prod' })).toEqual([
      true,
      'bob may build into prod (acl: group:release)',
    ]);
    expect(await reason(cfg, 'zed', { kind: 'build', pocket: 'dev' })).toEqual([
      true,
      'zed may build into dev (acl: *)',
    ]);
  });

  it('denies everyone else, naming who is allowed', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'zed', { kind: 'build', pocket: 'prod' })).toEqual([
      false,
      'zed may not build into prod (allowed: group:release, carol)',
    ]);
    expect(await reason(cfg, 'alice', { kind: 'build', pocket: 'closed' })).toEqual([
      false,
      'alice may not build into closed (allowed: nobody)',
    ]);
  });

  it('does not let admins build where the acl does not list them', async () => {
    const cfg = config(...BASE);
    expect((await decide(cfg, 'olga', { kind: 'admin' })).allowed).toBe(true);
    expect(await reason(cfg, 'olga', { kind: 'build', pocket: 'prod' })).toEqual([
      false,
      'olga may not build into prod (allowed: group:release, carol)',
    ]);
  });

  it('denies an unknown pocket, and a pocket that is not even a name', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'alice', { kind: 'build', pocket: 'staging' })).toEqual([
      false,
      'alice may not build into staging: unknown pocket staging (known: prod, dev, closed)',
    ]);
    // Inherited property names are not pockets.
    expect((await decide(cfg, 'alice', { kind: 'build', pocket: 'constructor' })).reason).toContain(
      'unknown pocket constructor',
    );
    const odd = await decide(cfg, 'alice', { kind: 'build', pocket: 'prod\nalice may build' });
    expect(odd).toEqual({
      allowed: false,
      reason:
        'alice may not build into "prod\\nalice may build": unknown pocket "prod\\nalice may build" (known: prod, dev, closed)',
    });
  });

  it('never takes an acl entry or a malformed name for a principal', async () => {
    const cfg = config(...BASE);
    for (const principal of ['*', 'group:release', 'Alice', '']) {
      const d = await decide(cfg, principal, { kind: 'build', pocket: 'dev' });
      expect(d).toEqual({ allowed: false, reason: `${JSON.stringify(principal)} is not a principal name; denying` });
    }
  });
});

describe('admin', () => {
  it('is granted by admins, directly or through a group', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'olga', { kind: 'admin' })).toEqual([
      true,
      "olga may cancel other principals' requests (admins: group:ops)",
    ]);
    expect(await reason(cfg, 'root', { kind: 'admin' })).toEqual([
      true,
      "root may cancel other principals' requests (admins: root)",
    ]);
    expect(await reason(cfg, 'alice', { kind: 'admin' })).toEqual([
      false,
      "alice may not cancel other principals' requests (allowed by admins: group:ops, root)",
    ]);
  });

  it('is nobody by default', async () => {
    const cfg = config('pockets: {dev: {suite: dev, acl: ["*"]}}');
    expect(await reason(cfg, 'alice', { kind: 'admin' })).toEqual([
      false,
      "alice may not cancel other principals' requests (allowed by admins: nobody)",
    ]);
  });
});

describe('repository acls', () => {
  it('uses repo_defaults for packages without an entry: everyone reads, listed principals push', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'zed', { kind: 'read', package: 'hello' })).toEqual([
      true,
      'zed may read hello (repo_defaults.read: *)',
    ]);
    expect(await reason(cfg, 'alice', { kind: 'push', package: 'hello' })).toEqual([
      true,
      'alice may push to hello (repo_defaults.push: group:release)',
    ]);
    expect(await reason(cfg, 'zed', { kind: 'push', package: 'hello' })).toEqual([
      false,
      'zed may not push to hello (allowed by repo_defaults.push: group:release)',
    ]);
  });

  it('uses the entry under repos, with repo_defaults for the list it leaves out', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'alice', { kind: 'push', package: 'secret-tool' })).toEqual([
      false,
      'alice may not push to secret-tool (allowed by repos.secret-tool.push: dave)',
    ]);
    expect(await reason(cfg, 'dave', { kind: 'push', package: 'secret-tool' })).toEqual([
      true,
      'dave may push to secret-tool (repos.secret-tool.push: dave)',
    ]);
    expect(await reason(cfg, 'olga', { kind: 'read', package: 'secret-tool' })).toEqual([
      true,
      'olga may read secret-tool (repos.secret-tool.read: group:ops)',
    ]);
    expect(await reason(cfg, 'zed', { kind: 'read', package: 'secret-tool' })).toEqual([
      false,
      'zed may not read secret-tool (allowed by repos.secret-tool.read and repos.secret-tool.push: group:ops, dave)',
    ]);
    // open-thing gives its own push list and inherits read: ['*'].
    expect(await reason(cfg, 'zed', { kind: 'push', package: 'open-thing' })).toEqual([
      true,
      'zed may push to open-thing (repos.open-thing.push: *)',
    ]);
    expect((await decide(cfg, 'zed', { kind: 'read', package: 'open-thing' })).allowed).toBe(true);
  });

  it('lets whoever may push also read', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'dave', { kind: 'read', package: 'secret-tool' })).toEqual([
      true,
      'dave may read secret-tool (repos.secret-tool.push: dave; pushing implies reading)',
    ]);
  });

  it('gives admins nothing on repositories', async () => {
    const cfg = config(...BASE);
    expect((await decide(cfg, 'root', { kind: 'push', package: 'hello' })).allowed).toBe(false);
    expect((await decide(cfg, 'root', { kind: 'read', package: 'secret-tool' })).allowed).toBe(false);
  });

  it('denies names that are not package names', async () => {
    const cfg = config(...BASE);
    expect(await reason(cfg, 'alice', { kind: 'read', package: '../etc' })).toEqual([
      false,
      'alice may not read "../etc": it is not a package name',
    ]);
    expect(await reason(cfg, 'alice', { kind: 'push', package: 'Hello' })).toEqual([
      false,
      'alice may not push "Hello": it is not a package name',
    ]);
  });
});

describe('requireRight', () => {
  it('returns when allowed and throws AccessDenied with the reason when not', async () => {
    const cfg = config(...BASE);
    await expect(requireRight(cfg, 'alice', { kind: 'build', pocket: 'prod' })).resolves.toBeUndefined();
    const right: Right = { kind: 'build', pocket: 'prod' };
    const err = await requireRight(cfg, 'zed', right).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AccessDenied);
    const denied = err as AccessDenied;
    expect(denied.code).toBe('AccessDenied');
    expect(denied.exitCode).toBe(ExitCode.denied);
    expect(denied.message).toBe('zed may not build into prod (allowed: group:release, carol)');
    expect(denied.data).toEqual({ principal: 'zed', right });
  });

  it('throws UnknownPocket, as submit and the build do, for a pocket that is not configured', async () => {
    const cfg = config(...BASE);
    for (const pocket of ['staging', 'constructor']) {
      const err = await requireRight(cfg, 'alice', { kind: 'build', pocket }).then(
        () => undefined,
        (e: unknown) => e as PocketbuildError,
      );
      expect(err?.code).toBe('UnknownPocket');
      expect(err?.exitCode).toBe(ExitCode.notFound);
      expect(err?.message).toBe(`unknown pocket ${pocket} (known: prod, dev, closed).`);
    }
    // Not a name at all, or asked by no principal: still the ACL's refusal.
    for (const [principal, pocket] of [
      ['alice', 'Staging'],
      ['*', 'staging'],
    ] as const) {
      const err = await requireRight(cfg, principal, { kind: 'build', pocket }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AccessDenied);
    }
  });
});

describe('acl_command', () => {
  function withCommand(command: string, acl = '[group:release]'): Config {
    return config(
      'groups: {release: [alice]}',
      'pockets:',
      `  prod: {suite: prod, acl: ${acl}, acl_command: ${command}}`,
    );
  }

  it('allows the principals it prints, ignoring blanks and comments', async () => {
    const cmd = script('acl', 'printf "# who may build into %s\\n\\n  carol  \\n dave\\n" "$1"');
    const cfg = withCommand(cmd);
    expect(await reason(cfg, 'carol', { kind: 'build', pocket: 'prod' })).toEqual([
      true,
      `carol may build into prod (acl_command ${cmd} printed carol)`,
    ]);
    expect((await decide(cfg, 'dave', { kind: 'build', pocket: 'prod' })).allowed).toBe(true);
    expect(await reason(cfg, 'erin', { kind: 'build', pocket: 'prod' })).toEqual([
      false,
      `erin may not build into prod (allowed: group:release; acl_command ${cmd} did not print erin)`,
    ]);
  });

  it('allows everyone when it prints "*"', async () => {
    const cmd = script('acl', 'echo "*"');
    expect(await reason(withCommand(cmd), 'erin', { kind: 'build', pocket: 'prod' })).toEqual([
      true,
      `erin may build into prod (acl_command ${cmd} printed *)`,
    ]);
  });

  it('is resolved against the config directory and given the pocket, no stdin and a minimal environment', async () => {
    const out = path.join(dir, 'seen');
    script('acl', `{ echo "arg=$1"; echo "stdin=$(cat)"; env; } > ${out}; echo carol`);
    process.env['POCKETBUILD_ACL_TEST_SECRET'] = 'leak';
    try {
      expect((await decide(withCommand('./acl'), 'carol', { kind: 'build', pocket: 'prod' })).allowed).toBe(true);
    } finally {
      delete process.env['POCKETBUILD_ACL_TEST_SECRET'];
    }
    const seen = fs.readFileSync(out, 'utf8');
    expect(seen).toContain('arg=prod\n');
    expect(seen).toContain('stdin=\n');
    expect(seen).toContain('PATH=/usr/local/bin:/usr/bin:/bin\n');
    expect(seen).not.toContain('POCKETBUILD_ACL_TEST_SECRET');
  });

  it('is not run for principals the acl already allows, so a broken one cannot lock them out', async () => {
    const ran = path.join(dir, 'ran');
    const cmd = script('acl', `touch ${ran}; exit 1`);
    expect(await reason(withCommand(cmd), 'alice', { kind: 'build', pocket: 'prod' })).toEqual([
      true,
      'alice may build into prod (acl: group:release)',
    ]);
    expect(fs.existsSync(ran)).toBe(false);
  });

  it('denies when it exits non-zero, naming the command and its status', async () => {
    const cmd = script('acl', 'echo carol; echo "ldap is down" >&2; exit 1');
    expect(await reason(withCommand(cmd), 'carol', { kind: 'build', pocket: 'prod' })).toEqual([
      false,
      `carol may not build into prod: acl_command ${cmd} failed (exited with status 1); denying (allowed without it: group:release)`,
    ]);
  });

  it('denies when it takes too long, and kills it', async () => {
    const pidFile = path.join(dir, 'pid');
    const cmd = script('acl', `echo $$ > ${pidFile}; echo carol; sleep 60`);
    const started = Date.now();
    const d = await decide(withCommand(cmd), 'carol', { kind: 'build', pocket: 'prod' }, { aclCommandTimeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(d).toEqual({
      allowed: false,
      reason: `carol may not build into prod: acl_command ${cmd} failed (killed by SIGTERM after the 300ms limit); denying (allowed without it: group:release)`,
    });
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('denies when any line it prints is not a principal name or "*"', async () => {
    const cmd = script('acl', 'echo carol; echo "Carol Smith"; echo dave');
    expect(await reason(withCommand(cmd), 'carol', { kind: 'build', pocket: 'prod' })).toEqual([
      false,
      `carol may not build into prod: acl_command ${cmd} failed (exited with status 0 but printed "Carol Smith" on line 2, which is neither a principal name nor "*"); denying (allowed without it: group:release)`,
    ]);
    // Groups are for the config; a command prints principals.
    const groupy = script('acl2', 'echo group:release');
    expect((await decide(withCommand(groupy), 'carol', { kind: 'build', pocket: 'prod' })).reason).toContain(
      'printed "group:release" on line 1, which is neither a principal name nor "*"',
    );
    // Control characters cannot break the reason onto a second line.
    const nasty = script('acl3', 'printf "carol\\033[2K\\n"');
    const d = await decide(withCommand(nasty), 'carol', { kind: 'build', pocket: 'prod' });
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('printed "carol\\u001b[2K" on line 1');
  });

  it('denies when it is missing or not executable', async () => {
    const missing = path.join(dir, 'nope');
    expect((await decide(withCommand(missing), 'carol', { kind: 'build', pocket: 'prod' })).reason).toBe(
      `carol may not build into prod: acl_command ${missing} failed (cannot be run: it does not exist); denying (allowed without it: group:release)`,
    );
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, 'echo carol\n', { mode: 0o644 });
    const d = await decide(withCommand(plain, '[]'), 'carol', { kind: 'build', pocket: 'prod' });
    // root may execute anything with an x bit; 0644 has none, so this holds for root too.
    expect(d).toEqual({
      allowed: false,
      reason: `carol may not build into prod: acl_command ${plain} failed (cannot be run: it is not executable); denying (allowed without it: nobody)`,
    });
  });
});
