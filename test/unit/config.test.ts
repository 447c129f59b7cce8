import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findConfigFile, loadConfig, machineSlots } from '../../src/config/load.js';
import { ConfigError, ExitCode } from '../../src/util/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const example = path.join(root, 'config.example.yml');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketbuild-config-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function lines(...ls: string[]): string {
  return ls.join('\n') + '\n';
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

/** Loads `text` and checks the exact one-line message and its data. */
function expectProblem(text: string, line: number, key: string | null, what: string): void {
  const file = write('config.yml', text);
  const err = configError(() => loadConfig(file));
  expect(err.message).toBe(`${file}:${line}: ${what}`);
  expect(err.message).not.toContain('\n');
  expect(err.data).toEqual({ file, line, key });
  expect(err.code).toBe('ConfigError');
  expect(err.exitCode).toBe(ExitCode.config);
}

const POCKET_KEYS =
  'suite, distribution, acl, acl_command, allow_backtracking, promote_from, architectures, sandbox, deb_build_options, notify';
const TOP_KEYS =
  'state_dir, queue_dir, repos_dir, hooks_dir, cache_dir, work_dir, builder, daemon, archive, cache, limits, signing, hooks, mail, ssh, web, groups, admins, pockets, repo_defaults, repos, auto_build';
const ACL_ALLOWED = '"*", "group:NAME" or a principal name matching [a-z_][a-z0-9_.-]{0,31}';
const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILyTfLNksivK6GNQN84LyQicOGAh0yiPF8rjqHPRDUxn alice@laptop';
const BOB_KEY =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCLa05jqW+rgJoNx47zPIq0WhTKF1YzXw6zbZZfw/mCi9n5DmgRTbOdiqsMpxrHXivbJTAD2PH9+fn7fa2CV5W4= bob@desk';
const CAROL_RSA_KEY =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCgU9GGSwGZ6uCFJZhVisGhYbA86Gxxrcozt9MVAdEcxEgvpNkyzXr7JUB+8u/SlLcIi9hEFBb6dpYBBns/uUOAPi4dLuoqUw3i7iBPCPJCOZmCxhua84wf80AxJQYR4XOUFBzLbmq3xKuYQJaQVCwK5Wi9lvBulJkSu4YQ4g37rfFfpY5kATyLaZw4vk3OW76PEgy/Pi/SuRYexi8jUW6gLBqlpyR2SlF5/YTknXck/GXwDY5x1TnVapHRfzckAN7FXtsUUa6mrcT8tQXdW7YPHeCtrmLwxQLSKqGv3I8nCfzThLxLxbK3TfW5nQBYGdyTIiqX1FiYYE5EK9ghzdQH carol@rsa';
const CAROL_P521_KEY =
  'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAArFNqsTzIqwnIKb6usT/WA04EYBuLp9mRmoBxdl+ZbGOyblUaFf0+TJcVFILxNu2vHM8zVCvL8yUjvGXalCZInTgBi8yK6hMq3nhefrEErS8ltbSXT8dRlOZmkZMpdPr9WXhzmVYH85v8v6rFjClB6FeHthLgz/8Tbph6TfKtBg09nuw== carol@p521';

describe('config.example.yml', () => {
  it('loads and resolves its relative paths against its own directory', () => {
    const cfg = loadConfig(example);
    expect(cfg.file).toBe(example);
    expect(cfg.state_dir).toBe(path.join(root, 'var'));
    expect(cfg.queue_dir).toBe(path.join(root, 'queue'));
    expect(cfg.repos_dir).toBe(path.join(root, 'var', 'repos'));
    expect(cfg.hooks_dir).toBe(path.join(root, 'hooks'));
    expect(cfg.groups).toEqual({ release: ['alice'] });
    expect(cfg.pockets).toEqual({
      stable: {
        name: 'stable',
        suite: 'stable',
        acl: ['group:release'],
        allow_backtracking: false,
        promote_from: ['dev'],
        architectures: ['amd64'],
        sandbox: 'userns',
        deb_build_options: '',
        distribution: 'bookworm',
        notify: [],
      },
      dev: {
        name: 'dev',
        suite: 'dev',
        acl: ['*'],
        allow_backtracking: true,
        promote_from: [],
        architectures: ['amd64'],
        sandbox: 'userns',
        deb_build_options: '',
        distribution: 'bookworm',
        notify: [],
      },
    });
    expect(cfg.ssh).toEqual({
      listen: '127.0.0.1',
      port: 2222,
      host_key: path.join(root, 'var', 'ssh', 'host_ed25519_key'),
      account: 'build',
      users: {},
    });
    expect(cfg.admins).toEqual([]);
    expect(cfg.repo_defaults).toEqual({ push: [], read: ['*'] });
    expect(cfg.repos).toEqual({});
    expect(cfg.auto_build).toEqual([]);
  });

  it('loads with every commented-out example switched on', () => {
    // The examples in comments are meant to be copied; they must be valid as written. Each is
    // the block of "#   " lines after a "For example:" line, replacing the key's shown default.
    const out: string[] = [];
    let inExample = false;
    for (const line of fs.readFileSync(example, 'utf8').split('\n')) {
      const m = /^(\s*)# {3}(.*)$/.exec(line);
      if (inExample && m) {
        out.push(`${m[1]}${m[2]}`);
        continue;
      }
      inExample = line.endsWith('For example:');
      out.push(line);
    }
    const text = out
      .filter((l) => !/^\s*(users: \{\}|repos: \{\}|auto_build: \[\])$/.test(l))
      .join('\n')
      // The key in the comment is shortened; put a whole one in.
      .replace(/- ssh-ed25519 \S+ alice@laptop/, `- ${ALICE_KEY}`);
    const cfg = loadConfig(write('example.yml', text));
    expect(cfg.ssh.users).toEqual({ alice: [ALICE_KEY] });
    expect(cfg.repos).toEqual({
      hello: { push: ['group:release'], read: ['*'] },
      'secret-tool': { push: [], read: ['group:release'] },
    });
    expect(cfg.auto_build).toEqual([{ branch: 'main', pocket: 'dev', package: '*' }]);
  });

  it('shows exactly the defaults', () => {
    // Same directory, so relative defaults resolve alike; only groups and pockets (with the demo's promotion) are given.
    const copy = write('example.yml', fs.readFileSync(example, 'utf8'));
    const minimal = write(
      'minimal.yml',
      lines(
        'groups: {release: [alice]}',
        'pockets:',
        '  stable: {suite: stable, acl: [group:release], promote_from: [dev]}',
        '  dev: {suite: dev, acl: ["*"], allow_backtracking: true}',
      ),
    );
    const { file: _a, ...fromExample } = loadConfig(copy);
    const { file: _b, ...fromDefaults } = loadConfig(minimal);
    expect(fromExample).toEqual(fromDefaults);
  });
});

describe('defaults', () => {
  it('fills in every section a file leaves out', () => {
    const file = write('sub/config.yml', lines('pockets:', '  dev:', '    suite: dev'));
    const here = path.join(dir, 'sub');
    expect(loadConfig(file)).toEqual({
      file,
      state_dir: path.join(here, 'var'),
      queue_dir: path.join(here, 'queue'),
      repos_dir: path.join(here, 'var', 'repos'),
      cache_dir: path.join(here, 'var', 'cache'),
      work_dir: path.join(here, 'var', 'work'),
      hooks_dir: path.join(here, 'hooks'),
      builder: { id: 'https://pocketbuild.invalid/builder' },
      daemon: { slots: machineSlots(4096), rescan_seconds: 5, claim_stale_seconds: 30, publish: true },
      archive: {
        mirror: 'http://deb.debian.org/debian',
        suite: 'bookworm',
        components: ['main'],
        lists_max_age_seconds: 3600,
      },
      cache: { layers_max_mb: 10240 },
      limits: {
        build_timeout_seconds: 3600,
        memory_mb: 4096,
        processes: 1000,
        disk_mb: 4096,
        log_mb: 64,
        cpu_seconds: 3600,
      },
      signing: { key: null },
      hooks: { timeout_seconds: 30 },
      mail: {
        smtp_host: null,
        tls: 'starttls',
        smtp_port: 587,
        auth_user: null,
        from: 'pocketbuild@localhost',
        audit_to: [],
        timeout_seconds: 20,
      },
      ssh: {
        listen: '127.0.0.1',
        port: 2222,
        host_key: path.join(here, 'var', 'ssh', 'host_ed25519_key'),
        account: 'build',
        users: {},
      },
      web: { listen: '127.0.0.1', port: 8080, base_url: null },
      groups: {},
      admins: [],
      pockets: {
        dev: {
          name: 'dev',
          suite: 'dev',
          acl: [],
          allow_backtracking: false,
          promote_from: [],
          architectures: ['amd64'],
          sandbox: 'userns',
          deb_build_options: '',
          distribution: 'bookworm',
          notify: [],
        },
      },
      repo_defaults: { push: [], read: ['*'] },
      repos: {},
      auto_build: [],
    });
  });

  it('merges a partial section with the defaults of the rest', () => {
    const file = write(
      'config.yml',
      lines('daemon:', '  slots: 3', 'limits:', '  memory_mb: 512', 'pockets:', '  dev: {suite: dev}'),
    );
    const cfg = loadConfig(file);
    expect(cfg.daemon).toEqual({ slots: 3, rescan_seconds: 5, claim_stale_seconds: 30, publish: true });
    expect(cfg.limits).toEqual({
      build_timeout_seconds: 3600,
      memory_mb: 512,
      processes: 1000,
      disk_mb: 4096,
      log_mb: 64,
      cpu_seconds: 3600,
    });
  });

  it('treats an empty section as all defaults', () => {
    const file = write('config.yml', lines('daemon:', 'groups:', 'pockets:', '  dev: {suite: dev, acl:}'));
    const cfg = loadConfig(file);
    expect(cfg.daemon).toEqual({
      slots: machineSlots(4096),
      rescan_seconds: 5,
      claim_stale_seconds: 30,
      publish: true,
    });
    expect(cfg.groups).toEqual({});
    expect(cfg.pockets['dev']?.acl).toEqual([]);
  });

  it('puts repos_dir under state_dir, and keeps absolute paths as they are', () => {
    const file = write(
      'config.yml',
      lines('state_dir: /srv/pocketbuild', 'hooks_dir: ../h', 'pockets: {dev: {suite: dev}}'),
    );
    const cfg = loadConfig(file);
    expect(cfg.state_dir).toBe('/srv/pocketbuild');
    expect(cfg.repos_dir).toBe('/srv/pocketbuild/repos');
    expect(cfg.hooks_dir).toBe(path.resolve(dir, '../h'));
  });

  it('resolves acl_command against the config directory and leaves it out when not given', () => {
    const file = write(
      'config.yml',
      lines(
        'pockets:',
        '  a: {suite: a, acl_command: bin/acl}',
        '  b: {suite: b, acl_command: /usr/lib/acl}',
        '  c: {suite: c}',
      ),
    );
    const cfg = loadConfig(file);
    expect(cfg.pockets['a']?.acl_command).toBe(path.join(dir, 'bin/acl'));
    expect(cfg.pockets['b']?.acl_command).toBe('/usr/lib/acl');
    expect(cfg.pockets['c']).not.toHaveProperty('acl_command');
  });

  it('accepts every kind of acl entry, a fingerprint and notify addresses', () => {
    const fpr = 'ABCDEF0123456789ABCDEF0123456789ABCDEF01';
    const file = write(
      'config.yml',
      lines(
        'signing:',
        `  key: ${fpr}`,
        'groups:',
        '  release: [alice, bob_2]',
        'pockets:',
        '  prod:',
        '    suite: bookworm-prod',
        '    acl: [group:release, carol, "*"]',
        '    sandbox: vm',
        '    deb_build_options: nocheck',
        '    notify: [builds@example.org]',
      ),
    );
    const cfg = loadConfig(file);
    expect(cfg.signing.key).toBe(fpr);
    expect(cfg.pockets['prod']).toEqual({
      name: 'prod',
      suite: 'bookworm-prod',
      acl: ['group:release', 'carol', '*'],
      allow_backtracking: false,
      promote_from: [],
      architectures: ['amd64'],
      sandbox: 'vm',
      deb_build_options: 'nocheck',
      distribution: 'bookworm',
      notify: ['builds@example.org'],
    });
  });
});

describe('access and ssh keys', () => {
  it('puts the host key under state_dir, wherever that is, unless given', () => {
    const a = loadConfig(write('a.yml', lines('state_dir: /srv/pb', 'pockets: {dev: {suite: dev}}')));
    expect(a.ssh.host_key).toBe('/srv/pb/ssh/host_ed25519_key');
    const b = loadConfig(write('b.yml', lines('ssh: {host_key: keys/host}', 'pockets: {dev: {suite: dev}}')));
    expect(b.ssh.host_key).toBe(path.join(dir, 'keys/host'));
  });

  it('accepts IPv4 and IPv6 listen addresses, the ends of the port range, and whole key lines', () => {
    const file = write(
      'config.yml',
      lines(
        'ssh:',
        '  listen: 0.0.0.0',
        '  port: 65535',
        '  users:',
        `    alice: ["${ALICE_KEY}"]`,
        // A tab between the fields and no comment are both fine, as in authorized_keys.
        `    _svc.ci-1: ["${BOB_KEY.replace(' ', '\\t').replace(/ bob@desk$/, '')}"]`,
        `    carol: ["${CAROL_RSA_KEY}", "${CAROL_P521_KEY}"]`,
        '    nobody: []',
        'pockets: {dev: {suite: dev}}',
      ),
    );
    expect(loadConfig(file).ssh).toMatchObject({
      listen: '0.0.0.0',
      port: 65535,
      users: {
        alice: [ALICE_KEY],
        '_svc.ci-1': [BOB_KEY.replace(' ', '\t').replace(/ bob@desk$/, '')],
        carol: [CAROL_RSA_KEY, CAROL_P521_KEY],
        nobody: [],
      },
    });
    const v6 = loadConfig(write('v6.yml', lines('ssh: {listen: "::1", port: 1}', 'pockets: {dev: {suite: dev}}')));
    expect(v6.ssh).toMatchObject({ listen: '::1', port: 1 });
  });

  it('gives each repos entry the lists it leaves out from repo_defaults', () => {
    const file = write(
      'config.yml',
      lines(
        'groups: {dev: [alice], ops: [olga]}',
        'admins: [group:ops, root]',
        'pockets: {dev: {suite: dev}}',
        'repo_defaults:',
        '  push: [group:dev]',
        'repos:',
        '  hello:',
        '    push: [bob]',
        '  secret-tool:',
        '    read: [group:dev]',
        '  g++-12:',
        '  libfoo.bar:',
        '    push: []',
        '    read: []',
      ),
    );
    const cfg = loadConfig(file);
    expect(cfg.admins).toEqual(['group:ops', 'root']);
    expect(cfg.repo_defaults).toEqual({ push: ['group:dev'], read: ['*'] });
    expect(cfg.repos).toEqual({
      hello: { push: ['bob'], read: ['*'] },
      'secret-tool': { push: ['group:dev'], read: ['group:dev'] },
      'g++-12': { push: ['group:dev'], read: ['*'] },
      'libfoo.bar': { push: [], read: [] },
    });
    // Inherited lists are copies: changing one repository's list must not change another's.
    expect(cfg.repos['g++-12']?.push).not.toBe(cfg.repo_defaults.push);
  });

  it('accepts auto_build rules for a package or every package', () => {
    const file = write(
      'config.yml',
      lines(
        'pockets: {dev: {suite: dev}, stable: {suite: stable}}',
        'auto_build:',
        '  - {branch: main, pocket: dev, package: "*"}',
        '  - branch: release/2.x',
        '    pocket: stable',
        '    package: hello',
      ),
    );
    expect(loadConfig(file).auto_build).toEqual([
      { branch: 'main', pocket: 'dev', package: '*' },
      { branch: 'release/2.x', pocket: 'stable', package: 'hello' },
    ]);
  });
});

describe('errors', () => {
  const pockets = ['pockets:', '  dev:', '    suite: dev'];

  it('refuses deb_build_options that are not DEB_BUILD_OPTIONS words', () => {
    for (const bad of ['"nocheck; rm -rf /"', '"parallel=$(nproc)"', '"Nocheck"']) {
      const file = write(
        'config.yml',
        lines('pockets:', '  prod:', '    suite: prod', `    deb_build_options: ${bad}`),
      );
      const err = configError(() => loadConfig(file));
      expect(err.message).toMatch(
        /:4: pockets\.prod\.deb_build_options must be DEB_BUILD_OPTIONS words separated by spaces, such as "nocheck"/,
      );
    }
  });

  it('names an unknown key deep down, with the closest known key', () => {
    expectProblem(
      lines('groups:', '  release: [alice]', 'pockets:', '  prod:', '    sute: prod'),
      5,
      'pockets.prod.sute',
      `unknown key "pockets.prod.sute" (did you mean "suite"? known: ${POCKET_KEYS})`,
    );
  });

  it('takes architectures the host can cross-build for, the host one first, and keeps promotions from dropping one', () => {
    const one = ['pockets:', '  dev:', '    suite: dev'];
    expect(
      loadConfig(write('ok.yml', lines(...one, '    architectures: [arm64, amd64]'))).pockets['dev']?.architectures,
    ).toEqual(['amd64', 'arm64']);
    expectProblem(
      lines(...one, '    architectures: [arm64]'),
      4,
      'pockets.dev.architectures',
      "pockets.dev.architectures must include amd64, this host's architecture: its native build makes the source and the arch: all packages",
    );
    expectProblem(
      lines(...one, '    architectures: [amd64, arm64, arm64]'),
      4,
      'pockets.dev.architectures',
      'pockets.dev.architectures lists arm64 twice',
    );
    expectProblem(
      lines(...one, '    architectures: [amd64, sparc64]'),
      4,
      'pockets.dev.architectures[1]',
      'pockets.dev.architectures[1] must be one of "amd64", "arm64", "armel", "armhf", "i386", "mips64el", "ppc64el", "s390x", got "sparc64"',
    );
    expectProblem(
      lines(...one, '    architectures: [amd64, arm64]', '    sandbox: vm'),
      4,
      'pockets.dev.architectures',
      'pockets.dev.architectures lists architectures other than amd64, which are cross-built in the userns sandbox only; use sandbox: userns for this pocket or list amd64 alone',
    );
    expectProblem(
      lines(...one, '    architectures: [amd64, arm64]', '  stable:', '    suite: stable', '    promote_from: [dev]'),
      7,
      'pockets.stable.promote_from[0]',
      'pockets.stable.promote_from[0] names pocket "dev", which publishes arm64 that pocket "stable" does not; add it to pockets.stable.architectures',
    );
  });

  it('takes promotions only from other pockets it defines', () => {
    const two = ['pockets:', '  dev: {suite: dev}', '  stable:', '    suite: stable'];
    expect(
      loadConfig(write('ok.yml', lines(...two, '    promote_from: [dev]'))).pockets['stable']?.promote_from,
    ).toEqual(['dev']);
    expectProblem(
      lines(...two, '    promote_from: [dev, qa]'),
      5,
      'pockets.stable.promote_from[1]',
      'pockets.stable.promote_from[1] names pocket "qa", which is not defined under pockets',
    );
    expectProblem(
      lines(...two, '    promote_from: [stable]'),
      5,
      'pockets.stable.promote_from[0]',
      'pockets.stable.promote_from[0] names pocket "stable" itself; list the pockets it takes builds from',
    );
  });

  it('names an unknown top-level key, suggesting only when it is close', () => {
    expectProblem(
      lines(...pockets, 'sate_dir: ./var'),
      4,
      'sate_dir',
      `unknown key "sate_dir" (did you mean "state_dir"? known: ${TOP_KEYS})`,
    );
    expectProblem(lines('colour: red', ...pockets), 1, 'colour', `unknown key "colour" (known: ${TOP_KEYS})`);
    expectProblem(
      lines(...pockets, 'daemon:', '  slost: 2'),
      5,
      'daemon.slost',
      'unknown key "daemon.slost" (did you mean "slots"? known: slots, rescan_seconds, claim_stale_seconds, publish)',
    );
  });

  it('does not take an inherited property name for a known key', () => {
    expectProblem(
      lines(...pockets, 'constructor: 1'),
      4,
      'constructor',
      `unknown key "constructor" (known: ${TOP_KEYS})`,
    );
  });

  it('reports wrong types with what was given', () => {
    expectProblem(
      lines(...pockets, 'daemon:', '  slots: two'),
      5,
      'daemon.slots',
      'daemon.slots must be a positive integer, got "two"',
    );
    expectProblem(lines('daemon: [1]', ...pockets), 1, 'daemon', 'daemon must be a mapping of keys, got a list');
    expectProblem(lines('- a', '- b'), 1, null, 'the top level must be a mapping of keys, got a list');
    expectProblem(
      lines(...pockets, '    allow_backtracking: yes'),
      4,
      'pockets.dev.allow_backtracking',
      'pockets.dev.allow_backtracking must be true or false, got "yes"',
    );
    expectProblem(
      lines('pockets:', '  dev:', '    suite: 2024'),
      3,
      'pockets.dev.suite',
      'pockets.dev.suite must be a suite name made of letters, digits, ".", "_" and "-", got 2024 (quote it, "2024", to make it a string)',
    );
    expectProblem(lines(...pockets, '    acl: "*"'), 4, 'pockets.dev.acl', 'pockets.dev.acl must be a list, got "*"');
    expectProblem(
      lines(...pockets, 'state_dir:'),
      4,
      'state_dir',
      'state_dir must be a path (absolute, or relative to the directory of the config file), got nothing',
    );
  });

  it('reports impossible numbers', () => {
    expectProblem(
      lines(...pockets, 'daemon: {slots: 0}'),
      4,
      'daemon.slots',
      'daemon.slots must be a positive integer, got 0',
    );
    expectProblem(
      lines(...pockets, 'daemon: {slots: 1.5}'),
      4,
      'daemon.slots',
      'daemon.slots must be a positive integer, got 1.5',
    );
    expectProblem(
      lines(...pockets, 'hooks:', '  timeout_seconds: -1'),
      5,
      'hooks.timeout_seconds',
      'hooks.timeout_seconds must be a positive number of seconds, got -1',
    );
    expectProblem(
      lines(...pockets, 'limits:', '  build_timeout_seconds: .inf'),
      5,
      'limits.build_timeout_seconds',
      'limits.build_timeout_seconds must be a positive number of seconds, got .inf',
    );
  });

  it('reports a value outside a fixed set', () => {
    expectProblem(
      lines(...pockets, '    sandbox: docker'),
      4,
      'pockets.dev.sandbox',
      'pockets.dev.sandbox must be one of "userns", "vm", got "docker"',
    );
  });

  it('reports bad pocket, suite, group and principal names', () => {
    expectProblem(
      lines('pockets:', '  Prod:', '    suite: prod'),
      2,
      'pockets.Prod',
      'pocket name "Prod" must match [a-z0-9][a-z0-9-]{0,63}',
    );
    expectProblem(
      lines('pockets:', `  ${'a'.repeat(65)}:`, '    suite: prod'),
      2,
      `pockets.${'a'.repeat(65)}`,
      `pocket name "${'a'.repeat(65)}" must match [a-z0-9][a-z0-9-]{0,63}`,
    );
    expectProblem(
      lines('pockets:', '  prod:', '    suite: "pro d"'),
      3,
      'pockets.prod.suite',
      'pockets.prod.suite must be a suite name made of letters, digits, ".", "_" and "-", got "pro d"',
    );
    expectProblem(
      lines('groups:', '  Release: [alice]', ...pockets),
      2,
      'groups.Release',
      'group name "Release" must match [a-z_][a-z0-9_.-]{0,31}',
    );
    expectProblem(
      lines('groups:', '  release:', '    - alice', '    - Bob', ...pockets),
      4,
      'groups.release[1]',
      'groups.release[1] must be a principal name matching [a-z_][a-z0-9_.-]{0,31}, got "Bob"',
    );
  });

  it('reports bad acl entries', () => {
    const allowed = '"*", "group:NAME" or a principal name matching [a-z_][a-z0-9_.-]{0,31}';
    expectProblem(
      lines(...pockets, '    acl:', '      - alice', '      - Alice'),
      6,
      'pockets.dev.acl[1]',
      `pockets.dev.acl[1] must be ${allowed}, got "Alice"`,
    );
    expectProblem(
      lines(...pockets, '    acl: ["**"]'),
      4,
      'pockets.dev.acl[0]',
      `pockets.dev.acl[0] must be ${allowed}, got "**"`,
    );
    expectProblem(
      lines('groups:', '  release: [alice]', ...pockets, '    acl:', '      - group:release', '      - group:ops'),
      8,
      'pockets.dev.acl[1]',
      'pockets.dev.acl[1] names group "ops", which is not defined under groups',
    );
  });

  it('does not take an inherited property name for a defined group', () => {
    expectProblem(
      lines(...pockets, '    acl: [group:constructor]'),
      4,
      'pockets.dev.acl[0]',
      'pockets.dev.acl[0] names group "constructor", which is not defined under groups',
    );
  });

  it('reports two pockets with one suite at the second', () => {
    expectProblem(
      lines('pockets:', '  stable:', '    suite: main', '  dev:', '    acl: ["*"]', '    suite: main'),
      6,
      'pockets.dev.suite',
      'pockets.dev.suite "main" is already the suite of pocket "stable"; each pocket needs its own suite',
    );
  });

  it('reports other bad strings', () => {
    expectProblem(
      lines(...pockets, '    acl_command: ""'),
      4,
      'pockets.dev.acl_command',
      'pockets.dev.acl_command must be a path (absolute, or relative to the directory of the config file), got ""',
    );
    expectProblem(
      lines(...pockets, 'signing:', '  key: "ABCD 1234"'),
      5,
      'signing.key',
      'signing.key must be a GPG key fingerprint (40 or 64 hex digits, no spaces) or null, got "ABCD 1234"',
    );
    expectProblem(
      lines(...pockets, '    notify: [alice]'),
      4,
      'pockets.dev.notify[0]',
      'pockets.dev.notify[0] must be an e-mail address, got "alice"',
    );
    expectProblem(
      lines(...pockets, 'archive: {mirror: "deb.debian.org"}'),
      4,
      'archive.mirror',
      'archive.mirror must be an http://, https:// or file:// URL, got "deb.debian.org"',
    );
  });

  it('refuses groups inside groups, and "*" in a group', () => {
    const principal = 'a principal name matching [a-z_][a-z0-9_.-]{0,31}';
    expectProblem(
      lines('groups:', '  ops: [olga]', '  release:', '    - alice', '    - group:ops', ...pockets),
      5,
      'groups.release[1]',
      `groups.release[1] must be ${principal}, got "group:ops"`,
    );
    expectProblem(
      lines('groups: {all: ["*"]}', ...pockets),
      1,
      'groups.all[0]',
      `groups.all[0] must be ${principal}, got "*"`,
    );
  });

  it('reports bad admins', () => {
    expectProblem(lines(...pockets, 'admins: alice'), 4, 'admins', 'admins must be a list, got "alice"');
    expectProblem(
      lines(...pockets, 'admins:', '  - root', '  - Root'),
      6,
      'admins[1]',
      `admins[1] must be ${ACL_ALLOWED}, got "Root"`,
    );
    expectProblem(
      lines('groups: {release: [alice]}', 'admins: [group:release, group:ops]', ...pockets),
      2,
      'admins[1]',
      'admins[1] names group "ops", which is not defined under groups',
    );
  });

  it('reports bad ssh settings', () => {
    expectProblem(
      lines(...pockets, 'ssh:', '  prot: 22'),
      5,
      'ssh.prot',
      'unknown key "ssh.prot" (did you mean "port"? known: listen, port, host_key, account, authorized_keys, users)',
    );
    expectProblem(lines(...pockets, 'ssh: [2222]'), 4, 'ssh', 'ssh must be a mapping of keys, got a list');
    const address = 'an IP address literal such as 127.0.0.1 or ::';
    expectProblem(
      lines(...pockets, 'ssh:', '  listen: localhost'),
      5,
      'ssh.listen',
      `ssh.listen must be ${address}, got "localhost"`,
    );
    expectProblem(
      lines(...pockets, 'ssh:', '  listen: 256.0.0.1'),
      5,
      'ssh.listen',
      `ssh.listen must be ${address}, got "256.0.0.1"`,
    );
    expectProblem(
      lines(...pockets, 'ssh:', '  listen: 127'),
      5,
      'ssh.listen',
      `ssh.listen must be ${address}, got 127 (quote it, "127", to make it a string)`,
    );
    const port = 'a port number from 1 to 65535';
    for (const [given, shown] of [
      ['0', '0'],
      ['65536', '65536'],
      ['22.5', '22.5'],
      ['-1', '-1'],
      ['"22"', '"22"'],
    ]) {
      expectProblem(
        lines(...pockets, 'ssh:', '  listen: "::"', `  port: ${given}`),
        6,
        'ssh.port',
        `ssh.port must be ${port}, got ${shown}`,
      );
    }
    expectProblem(
      lines(...pockets, 'ssh: {host_key: ""}'),
      4,
      'ssh.host_key',
      'ssh.host_key must be a path (absolute, or relative to the directory of the config file), got ""',
    );
  });

  it('accepts any web port including 0, IPv6, and a base_url with or without its trailing slash', () => {
    const load = (...web: string[]) => loadConfig(write('config.yml', lines(...pockets, 'web:', ...web))).web;
    expect(load('  port: 0')).toEqual({ listen: '127.0.0.1', port: 0, base_url: null });
    expect(load('  listen: "::1"', '  port: 65535')).toEqual({ listen: '::1', port: 65535, base_url: null });
    expect(load('  base_url: https://builder.example.org/').base_url).toBe('https://builder.example.org');
    expect(load('  base_url: http://10.0.0.1:8080/pb').base_url).toBe('http://10.0.0.1:8080/pb');
  });

  it('reports bad web settings', () => {
    expectProblem(
      lines(...pockets, 'web:', '  prot: 80'),
      5,
      'web.prot',
      'unknown key "web.prot" (did you mean "port"? known: listen, port, base_url)',
    );
    expectProblem(
      lines(...pockets, 'web:', '  listen: localhost'),
      5,
      'web.listen',
      'web.listen must be an IP address literal such as 127.0.0.1 or ::, got "localhost"',
    );
    for (const [given, shown] of [
      ['65536', '65536'],
      ['-1', '-1'],
      ['80.5', '80.5'],
      ['"80"', '"80"'],
    ]) {
      expectProblem(
        lines(...pockets, 'web:', `  port: ${given}`),
        5,
        'web.port',
        `web.port must be a port number from 0 to 65535 (0: any free port), got ${shown}`,
      );
    }
    for (const url of ['ftp://x.org/', 'https://x.org/?a=1', 'https://user@x.org/', 'http://', 'x.org']) {
      expectProblem(
        lines(...pockets, 'web:', `  base_url: "${url}"`),
        5,
        'web.base_url',
        `web.base_url must be an http:// or https:// URL with no query, fragment or user, or null, got "${url}"`,
      );
    }
  });

  it('reports bad ssh users and keys', () => {
    expectProblem(
      lines(...pockets, 'ssh:', '  users:', `    Alice: ["${ALICE_KEY}"]`),
      6,
      'ssh.users.Alice',
      'principal name "Alice" must match [a-z_][a-z0-9_.-]{0,31}',
    );
    expectProblem(
      lines(...pockets, 'ssh:', '  users:', `    alice: ${ALICE_KEY}`),
      6,
      'ssh.users.alice',
      'ssh.users.alice must be a list, got "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILyTfLNksivK6GNQN84..."',
    );
    const keyLine =
      'an OpenSSH public key line: ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521, the base64 key data, then an optional comment';
    const bad: Array<[string, string]> = [
      ['ssh-dss AAAAB3NzaC1kc3MAAACBAP me@old', '"ssh-dss AAAAB3NzaC1kc3MAAACBAP me@old"'],
      ['ssh-ed25519', '"ssh-ed25519"'],
      ['ssh-ed25519 not-base64! me', '"ssh-ed25519 not-base64! me"'],
      ['command="x" ssh-ed25519 AAAA me', '"command=\\"x\\" ssh-ed25519 AAAA me"'],
    ];
    for (const [line, shown] of bad) {
      expectProblem(
        lines(...pockets, 'ssh:', '  users:', '    alice:', `      - '${line}'`),
        7,
        'ssh.users.alice[0]',
        `ssh.users.alice[0] must be ${keyLine}, got ${shown}`,
      );
    }
    // Well-formed lines whose data is not a key of the type they name: a mangled paste.
    expectProblem(
      lines(...pockets, 'ssh:', '  users:', '    alice:', `      - ${ALICE_KEY.replace('ssh-ed25519', 'ssh-rsa')}`),
      7,
      'ssh.users.alice[0]',
      'ssh.users.alice[0] is not a whole ssh-rsa key (its base64 data does not encode one); copy the line from the .pub file again',
    );
    expectProblem(
      lines(...pockets, 'ssh:', '  users:', '    alice:', `      - ${ALICE_KEY.replace('DUxn', '')}`),
      7,
      'ssh.users.alice[0]',
      'ssh.users.alice[0] is not a whole ssh-ed25519 key (its base64 data does not encode one); copy the line from the .pub file again',
    );
    expectProblem(
      lines(...pockets, 'ssh:', '  users:', '    alice:', `      - ${BOB_KEY.replace('5W4=', '')}`),
      7,
      'ssh.users.alice[0]',
      'ssh.users.alice[0] is not a whole ecdsa-sha2-nistp256 key (its base64 data does not encode one); copy the line from the .pub file again',
    );
    expectProblem(
      lines(
        ...pockets,
        'ssh:',
        '  users:',
        `    alice: ["${ALICE_KEY}"]`,
        '    bob:',
        `      - ${BOB_KEY}`,
        `      - ${ALICE_KEY.replace('alice@laptop', 'bob')}`,
      ),
      9,
      'ssh.users.bob[1]',
      'ssh.users.bob[1] is the same key as ssh.users.alice[0]; a key may belong to one principal only',
    );
  });

  it('reports bad repo_defaults and repos', () => {
    expectProblem(
      lines(...pockets, 'repo_defaults:', '  reed: []'),
      5,
      'repo_defaults.reed',
      'unknown key "repo_defaults.reed" (did you mean "read"? known: push, read)',
    );
    expectProblem(
      lines(...pockets, 'repo_defaults:', '  push: ["group:"]'),
      5,
      'repo_defaults.push[0]',
      `repo_defaults.push[0] must be ${ACL_ALLOWED}, got "group:"`,
    );
    expectProblem(
      lines(...pockets, 'repo_defaults:', '  read: [group:staff]'),
      5,
      'repo_defaults.read[0]',
      'repo_defaults.read[0] names group "staff", which is not defined under groups',
    );
    expectProblem(
      lines(...pockets, 'repos:', '  Hello: {push: [alice]}'),
      5,
      'repos.Hello',
      'package name "Hello" must match [a-z0-9][a-z0-9+.-]{1,99}',
    );
    expectProblem(
      lines(...pockets, 'repos:', '  a: {}'),
      5,
      'repos.a',
      'package name "a" must match [a-z0-9][a-z0-9+.-]{1,99}',
    );
    expectProblem(
      lines(...pockets, 'repos:', '  hello: [alice]'),
      5,
      'repos.hello',
      'repos.hello must be a mapping of keys, got a list',
    );
    expectProblem(
      lines(...pockets, 'repos:', '  hello:', '    pull: [alice]'),
      6,
      'repos.hello.pull',
      'unknown key "repos.hello.pull" (did you mean "push"? known: push, read)',
    );
    expectProblem(
      lines(
        'groups: {dev: [alice]}',
        ...pockets,
        'repos:',
        '  hello:',
        '    push: [group:dev]',
        '    read:',
        '      - group:devs',
      ),
      9,
      'repos.hello.read[0]',
      'repos.hello.read[0] names group "devs", which is not defined under groups',
    );
  });

  it('reports an undefined group where it is written, not where it is inherited', () => {
    expectProblem(
      lines(...pockets, 'repos: {hello: {}}', 'repo_defaults:', '  push: [group:dev]'),
      6,
      'repo_defaults.push[0]',
      'repo_defaults.push[0] names group "dev", which is not defined under groups',
    );
  });

  it('reports bad auto_build rules', () => {
    const two = ['pockets:', '  dev: {suite: dev}', '  stable: {suite: stable}'];
    expectProblem(
      lines(...two, 'auto_build: {branch: main}'),
      4,
      'auto_build',
      'auto_build must be a list, got a mapping',
    );
    expectProblem(
      lines(
        ...two,
        'auto_build:',
        '  - {branch: main, pocket: dev, package: "*"}',
        '  - {branch: main, package: hello}',
      ),
      6,
      'auto_build[1].pocket',
      'missing required key "auto_build[1].pocket"',
    );
    expectProblem(
      lines(...two, 'auto_build:', '  - branch: main', '    pockets: dev'),
      6,
      'auto_build[0].pockets',
      'unknown key "auto_build[0].pockets" (did you mean "pocket"? known: branch, pocket, package)',
    );
    const branch = 'a git branch name without "refs/heads/" (no blanks, "..", "~", "^", ":", "?", "*", "[" or "\\")';
    for (const bad of [
      'refs/heads/main',
      'a..b',
      '-x',
      'x.lock',
      'feature/',
      'a b',
      'a/.b',
      'a//b',
      'x@{1}',
      '@',
      'a:b',
      'a*',
      '.x',
      'x.',
    ]) {
      expectProblem(
        lines(...two, 'auto_build:', `  - {branch: ${JSON.stringify(bad)}, pocket: dev, package: hello}`),
        5,
        'auto_build[0].branch',
        `auto_build[0].branch must be ${branch}, got ${JSON.stringify(bad)}`,
      );
    }
    expectProblem(
      lines(...two, 'auto_build:', '  - branch: main', '    pocket: prod', '    package: hello'),
      6,
      'auto_build[0].pocket',
      'auto_build[0].pocket names pocket "prod", which is not defined under pockets',
    );
    expectProblem(
      lines(...two, 'auto_build:', '  - branch: main', '    pocket: Dev', '    package: hello'),
      6,
      'auto_build[0].pocket',
      'auto_build[0].pocket must be a pocket name matching [a-z0-9][a-z0-9-]{0,63}, got "Dev"',
    );
    expectProblem(
      lines(...two, 'auto_build:', '  - branch: stable', '    pocket: dev', '    package: hello'),
      5,
      'auto_build[0].branch',
      'auto_build[0].branch "stable" is the branch of pocket "stable", which only the builder moves; name the branch people push to',
    );
    expectProblem(
      lines(...two, 'auto_build:', '  - {branch: main, pocket: dev, package: "hello*"}'),
      5,
      'auto_build[0].package',
      'auto_build[0].package must be "*" or a package name matching [a-z0-9][a-z0-9+.-]{1,99}, got "hello*"',
    );
  });

  it('reports missing required keys', () => {
    expectProblem(lines('daemon: {slots: 2}'), 1, 'pockets', 'missing required key "pockets"');
    expectProblem(lines('daemon: {slots: 2}', 'pockets: {}'), 2, 'pockets', 'pockets must define at least one pocket');
    expectProblem(lines('daemon: {slots: 2}', 'pockets:'), 2, 'pockets', 'pockets must define at least one pocket');
    expectProblem(
      lines('pockets:', '  stable:', '    suite: stable', '  dev:', '    acl: ["*"]'),
      4,
      'pockets.dev.suite',
      'missing required key "pockets.dev.suite"',
    );
  });

  it('reports an empty file', () => {
    const what = 'the file is empty; it needs at least a "pockets" section (see config.example.yml)';
    expectProblem('', 1, null, what);
    expectProblem(lines('# nothing here yet', ''), 1, null, what);
  });

  it("keeps the YAML library's message for syntax errors, at the right line", () => {
    expectProblem(lines(...pockets, 'pockets:', '  prod: {suite: prod}'), 4, null, 'Map keys must be unique');
    expectProblem(
      lines(...pockets, 'daemon:', '  slots: 1', ' rescan_seconds: 2'),
      6,
      null,
      'All mapping items must start at the same column',
    );
    expectProblem(lines(...pockets, 'hooks: !shell x'), 4, null, 'Unresolved tag: !shell');
  });

  it('names the path and the reason when the file cannot be read', () => {
    const missing = path.join(dir, 'nope.yml');
    const err = configError(() => loadConfig(missing));
    expect(err.message).toBe(
      `cannot read the config file ${missing}: no such file or directory (ENOENT); check the path and its permissions`,
    );
    expect(err.data).toMatchObject({ file: missing, errno: 'ENOENT' });

    const err2 = configError(() => loadConfig(dir));
    expect(err2.message).toBe(
      `cannot read the config file ${dir}: illegal operation on a directory (EISDIR); check the path and its permissions`,
    );
  });
});

describe('findConfigFile', () => {
  const system = () => path.join(dir, 'etc', 'config.yml');
  const cwd = () => path.join(dir, 'cwd');

  beforeEach(() => {
    fs.mkdirSync(cwd(), { recursive: true });
  });

  it('prefers --config, then $POCKETBUILD_CONFIG, then ./config.yml, then the system file', () => {
    const explicit = write('explicit.yml', '');
    const fromEnv = write('env.yml', '');
    const local = write('cwd/config.yml', '');
    write('etc/config.yml', '');
    const env = { POCKETBUILD_CONFIG: fromEnv };

    expect(findConfigFile(explicit, env, cwd(), system())).toBe(explicit);
    expect(findConfigFile(undefined, env, cwd(), system())).toBe(fromEnv);
    expect(findConfigFile(undefined, {}, cwd(), system())).toBe(local);
    fs.rmSync(local);
    expect(findConfigFile(undefined, {}, cwd(), system())).toBe(system());
  });

  it('resolves relative names against cwd and ignores an empty variable', () => {
    const explicit = write('cwd/my.yml', '');
    const fromEnv = write('cwd/env/pb.yml', '');
    const local = write('cwd/config.yml', '');
    expect(findConfigFile('my.yml', {}, cwd(), system())).toBe(explicit);
    expect(findConfigFile(undefined, { POCKETBUILD_CONFIG: 'env/pb.yml' }, cwd(), system())).toBe(fromEnv);
    expect(findConfigFile(undefined, { POCKETBUILD_CONFIG: '' }, cwd(), system())).toBe(local);
  });

  it('does not fall back when the file named by --config or the variable is missing', () => {
    write('cwd/config.yml', '');
    const missing = path.join(dir, 'missing.yml');
    expect(configError(() => findConfigFile(missing, {}, cwd(), system())).message).toBe(
      `the config file ${missing} given with --config does not exist; check the path`,
    );
    expect(configError(() => findConfigFile(undefined, { POCKETBUILD_CONFIG: missing }, cwd(), system())).message).toBe(
      `the config file ${missing} named by $POCKETBUILD_CONFIG does not exist; fix or unset the variable`,
    );
  });

  it('lists the places it looked when there is no config at all', () => {
    const err = configError(() => findConfigFile(undefined, {}, cwd(), system()));
    const looked = [path.join(cwd(), 'config.yml'), system()];
    expect(err.message).toBe(
      `no config file found (looked for ${looked.join(' and ')}); pass --config FILE, set $POCKETBUILD_CONFIG, or copy config.example.yml to config.yml`,
    );
    expect(err.data).toEqual({ looked });
  });

  it.skipIf(fs.existsSync('/etc/pocketbuild/config.yml'))(
    'defaults to /etc/pocketbuild/config.yml as the last place',
    () => {
      const err = configError(() => findConfigFile(undefined, {}, cwd()));
      expect(err.data['looked']).toEqual([path.join(cwd(), 'config.yml'), '/etc/pocketbuild/config.yml']);
    },
  );
});

describe('daemon.slots from the machine', () => {
  it('gives two CPUs and limits.memory_mb to each build, at least one', () => {
    const GiB = 1024 ** 3;
    expect(machineSlots(4096, 2, 8 * GiB)).toBe(1);
    expect(machineSlots(4096, 16, 64 * GiB)).toBe(8);
    expect(machineSlots(4096, 16, 16 * GiB)).toBe(4);
    expect(machineSlots(4096, 1, 1 * GiB)).toBe(1);
  });
});
