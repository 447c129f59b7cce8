import os from 'node:os';
/**
 * Reading the one YAML config file into a checked `Config`. What is allowed is the table
 * CONFIG_SCHEMA plus the cross-key RULES below; the walking itself is in ./walk.ts. Defaults
 * taken from another section (repos from repo_defaults, ssh.host_key from state_dir) are
 * filled in by `inheritDefaults` between the two.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../util/errors.js';
import { PACKAGE_NAME, POCKET_NAME, PRINCIPAL_NAME } from '../util/names.js';
import { CROSS_ARCHITECTURES, hostArch } from '../util/host-arch.js';
import type { Config, PocketConfig, RepoAcl } from './types.js';
import {
  applyRules,
  configProblem,
  walk,
  type ListSchema,
  type NumberSchema,
  type ObjectSchema,
  type Rule,
  type StringSchema,
  type WalkContext,
} from './walk.js';

const SUITE = /^[A-Za-z0-9._-]+$/;
const ACL_ENTRY = /^(\*|group:[a-z_][a-z0-9_.-]{0,31}|[a-z_][a-z0-9_.-]{0,31})$/;
const FINGERPRINT = /^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/;
const EMAIL = /^[^\s@<>]+@[^\s@<>]+$/;
/** An SMTP server: a host name, an IPv4 address or a bare IPv6 address. */
/** dpkg-buildpackage(1): words `name` or `name=value`, separated by spaces; empty for none. */
const DEB_BUILD_OPTIONS =
  /^(|[a-z0-9][a-z0-9_.+-]*(=[A-Za-z0-9_.+,:-]*)?( +[a-z0-9][a-z0-9_.+-]*(=[A-Za-z0-9_.+,:-]*)?)*)$/;
const MAIL_HOST = /^[A-Za-z0-9._:-]+$/;
const URL_HTTP_OR_FILE = /^(https?|file):\/\/\S+$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;
/** A base URL: http(s), a host, an optional path; no query, fragment or user info. */
const BASE_URL = /^https?:\/\/[^\s/?#@]+(\/[^\s?#]*)?$/;
/** An auto_build package: a package name or "*". */
const PACKAGE_OR_ANY = new RegExp(`^(\\*|${src(PACKAGE_NAME)})$`);
/** The key types the embedded server accepts, each followed by its base64 key blob and an optional comment. */
const SSH_PUBLIC_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521))[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]+[^\r\n]*)?$/;
/**
 * A branch name as `git check-ref-format --branch` takes it, without refs/heads/: no control
 * characters, blanks, ~ ^ : ? * [ \ or "..", "@{", "//"; no part starting with "." or ending
 * with ".lock"; not starting with "-" or ending with "/" or ".".
 */
const BRANCH_NAME =
  /^(?!refs\/heads\/)(?![-/.])(?!.*\.\.)(?!.*@\{)(?!.*\/\/)(?!.*\/\.)(?!.*\.lock(?:\/|$))(?!.*[/.]$)(?!@$)[^\x00-\x20\x7f~^:?*[\\]+$/;

/** The lookup's last resort. */
export const SYSTEM_CONFIG_FILE = '/etc/pocketbuild/config.yml';

const positiveInteger: NumberSchema = { kind: 'number', integer: true, above: 0, expect: 'a positive integer' };
const positiveSeconds: NumberSchema = { kind: 'number', above: 0, expect: 'a positive number of seconds' };
const suiteName: StringSchema = {
  kind: 'string',
  pattern: SUITE,
  expect: 'a suite name made of letters, digits, ".", "_" and "-"',
};
/** One entry of any ACL: pockets.*.acl, admins, repo_defaults and repos push/read lists. */
const aclList: ListSchema = {
  kind: 'list',
  item: {
    kind: 'string',
    pattern: ACL_ENTRY,
    expect: `"*", "group:NAME" or a principal name matching ${src(PRINCIPAL_NAME)}`,
  },
};
/** Shared by the schema row and the rule that finishes the check, so both say the same thing. */
const PORT_EXPECT = 'a port number from 1 to 65535';
const WEB_PORT_EXPECT = 'a port number from 0 to 65535 (0: any free port)';
const LISTEN_EXPECT = 'an IP address literal such as 127.0.0.1 or ::';
/**
 * A repos entry leaves a list out to take repo_defaults'. A row's defaultFrom only sees its own
 * mapping, so it leaves the key absent here and `inheritDefaults` fills it in after the walk.
 */
const fromRepoDefaults = (): undefined => undefined;

/**
 * Every key the config file may have. To add a key: add a row here (and to Config in
 * ./types.ts and to config.example.yml); cross-key checks go in RULES.
 */
export const CONFIG_SCHEMA: ObjectSchema = {
  kind: 'object',
  fields: {
    state_dir: { schema: { kind: 'path' }, defaultFrom: (_, ctx) => path.join(ctx.dir, 'var') },
    queue_dir: { schema: { kind: 'path' }, defaultFrom: (_, ctx) => path.join(ctx.dir, 'queue') },
    repos_dir: { schema: { kind: 'path' }, defaultFrom: (cfg) => path.join(String(cfg['state_dir']), 'repos') },
    hooks_dir: { schema: { kind: 'path' }, defaultFrom: (_, ctx) => path.join(ctx.dir, 'hooks') },
    cache_dir: { schema: { kind: 'path' }, defaultFrom: (cfg) => path.join(String(cfg['state_dir']), 'cache') },
    work_dir: { schema: { kind: 'path' }, defaultFrom: (cfg) => path.join(String(cfg['state_dir']), 'work') },
    builder: {
      schema: {
        kind: 'object',
        fields: {
          id: {
            schema: { kind: 'string', pattern: URI, expect: 'a URI naming this builder' },
            default: 'https://pocketbuild.invalid/builder',
          },
        },
      },
    },
    daemon: {
      schema: {
        kind: 'object',
        fields: {
          // Default from the machine, filled in by inheritDefaults (it needs limits.memory_mb).
          slots: { schema: positiveInteger },
          rescan_seconds: { schema: positiveSeconds, default: 5 },
          claim_stale_seconds: { schema: positiveSeconds, default: 30 },
          publish: { schema: { kind: 'boolean' }, default: true },
        },
      },
    },
    archive: {
      schema: {
        kind: 'object',
        fields: {
          mirror: {
            schema: { kind: 'string', pattern: URL_HTTP_OR_FILE, expect: 'an http://, https:// or file:// URL' },
            default: 'http://deb.debian.org/debian',
          },
          suite: { schema: suiteName, default: 'bookworm' },
          components: {
            schema: {
              kind: 'list',
              item: { kind: 'string', pattern: SUITE, expect: 'a component name such as "main"' },
            },
            default: ['main'],
          },
          lists_max_age_seconds: { schema: positiveSeconds, default: 3600 },
        },
      },
    },
    cache: {
      schema: { kind: 'object', fields: { layers_max_mb: { schema: positiveInteger, default: 10240 } } },
    },
    limits: {
      schema: {
        kind: 'object',
        fields: {
          build_timeout_seconds: { schema: positiveSeconds, default: 3600 },
          memory_mb: { schema: positiveInteger, default: 4096 },
          processes: { schema: positiveInteger, default: 1000 },
          disk_mb: { schema: positiveInteger, default: 4096 },
          log_mb: { schema: positiveInteger, default: 64 },
          cpu_seconds: { schema: positiveInteger, default: 3600 },
        },
      },
    },
    signing: {
      schema: {
        kind: 'object',
        fields: {
          key: {
            schema: {
              kind: 'string',
              pattern: FINGERPRINT,
              nullable: true,
              expect: 'a GPG key fingerprint (40 or 64 hex digits, no spaces) or null',
            },
            default: null,
          },
        },
      },
    },
    hooks: {
      schema: { kind: 'object', fields: { timeout_seconds: { schema: positiveSeconds, default: 30 } } },
    },
    mail: {
      schema: {
        kind: 'object',
        fields: {
          smtp_host: {
            schema: {
              kind: 'string',
              pattern: MAIL_HOST,
              nullable: true,
              expect: 'a host name or IP address, or null (no mail)',
            },
            default: null,
          },
          tls: { schema: { kind: 'enum', values: ['none', 'starttls', 'tls'] }, default: 'starttls' },
          // After tls in the table: the usual port depends on it. RULES checks the upper bound.
          smtp_port: {
            schema: { kind: 'number', integer: true, above: 0, expect: PORT_EXPECT },
            defaultFrom: (mail) =>
              ({ none: 25, starttls: 587, tls: 465 })[String(mail['tls']) as 'none' | 'starttls' | 'tls'],
          },
          auth_user: {
            schema: { kind: 'string', nullable: true, expect: 'an SMTP user name or null (no AUTH)' },
            default: null,
          },
          auth_password_file: { schema: { kind: 'path' } },
          from: {
            schema: { kind: 'string', pattern: EMAIL, expect: 'an e-mail address' },
            default: 'pocketbuild@localhost',
          },
          audit_to: {
            schema: { kind: 'list', item: { kind: 'string', pattern: EMAIL, expect: 'an e-mail address' } },
            default: [],
          },
          timeout_seconds: { schema: positiveSeconds, default: 20 },
        },
      },
    },
    ssh: {
      schema: {
        kind: 'object',
        fields: {
          // The walker has no upper bound or predicate for values: RULES finish these two checks.
          listen: { schema: { kind: 'string', expect: LISTEN_EXPECT }, default: '127.0.0.1' },
          port: { schema: { kind: 'number', integer: true, above: 0, expect: PORT_EXPECT }, default: 2222 },
          // Default <state_dir>/ssh/host_ed25519_key, filled in by inheritDefaults (another section's key).
          host_key: { schema: { kind: 'path' } },
          account: {
            schema: { kind: 'string', pattern: PRINCIPAL_NAME, expect: 'a login name such as build' },
            default: 'build',
          },
          // Absent: pocketbuild writes no authorized_keys (the embedded server reads its users itself).
          authorized_keys: { schema: { kind: 'path' } },
          users: {
            schema: {
              kind: 'record',
              keyNoun: 'principal name',
              keyPattern: PRINCIPAL_NAME,
              value: {
                kind: 'list',
                item: {
                  kind: 'string',
                  pattern: SSH_PUBLIC_KEY,
                  expect:
                    'an OpenSSH public key line: ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521, the base64 key data, then an optional comment',
                },
              },
            },
          },
        },
      },
    },
    web: {
      schema: {
        kind: 'object',
        fields: {
          // Like ssh: RULES finish the checks of these two.
          listen: { schema: { kind: 'string', expect: LISTEN_EXPECT }, default: '127.0.0.1' },
          port: { schema: { kind: 'number', integer: true, above: -1, expect: WEB_PORT_EXPECT }, default: 8080 },
          base_url: {
            schema: {
              kind: 'string',
              pattern: BASE_URL,
              nullable: true,
              expect: 'an http:// or https:// URL with no query, fragment or user, or null',
            },
            default: null,
          },
        },
      },
    },
    groups: {
      schema: {
        kind: 'record',
        keyNoun: 'group name',
        keyPattern: PRINCIPAL_NAME,
        value: {
          kind: 'list',
          item: { kind: 'string', pattern: PRINCIPAL_NAME, expect: `a principal name matching ${src(PRINCIPAL_NAME)}` },
        },
      },
    },
    admins: { schema: aclList, default: [] },
    pockets: {
      required: true,
      schema: {
        kind: 'record',
        keyNoun: 'pocket name',
        keyPattern: POCKET_NAME,
        keyField: 'name',
        minEntries: 1,
        tooFew: 'pockets must define at least one pocket',
        value: {
          kind: 'object',
          fields: {
            suite: { schema: suiteName, required: true },
            // Default archive.suite, filled in by inheritDefaults (another section's key).
            distribution: { schema: suiteName },
            acl: { schema: aclList, default: [] },
            acl_command: { schema: { kind: 'path' } },
            allow_backtracking: { schema: { kind: 'boolean' }, default: false },
            // Checked in RULES: each names another pocket.
            promote_from: {
              schema: { kind: 'list', item: { kind: 'string', pattern: POCKET_NAME, expect: 'a pocket name' } },
              default: [],
            },
            // Checked in RULES: the host's is one of them; put first by inheritDefaults.
            architectures: {
              schema: { kind: 'list', item: { kind: 'enum', values: [...CROSS_ARCHITECTURES] } },
              default: [hostArch()],
            },
            sandbox: { schema: { kind: 'enum', values: ['userns', 'vm'] }, default: 'userns' },
            deb_build_options: {
              schema: {
                kind: 'string',
                pattern: DEB_BUILD_OPTIONS,
                expect: 'DEB_BUILD_OPTIONS words separated by spaces, such as "nocheck" or "nocheck noautodbgsym"',
              },
              default: '',
            },
            notify: {
              schema: { kind: 'list', item: { kind: 'string', pattern: EMAIL, expect: 'an e-mail address' } },
              default: [],
            },
          },
        },
      },
    },
    repo_defaults: {
      schema: {
        kind: 'object',
        fields: {
          push: { schema: aclList, default: [] },
          read: { schema: aclList, default: ['*'] },
        },
      },
    },
    repos: {
      schema: {
        kind: 'record',
        keyNoun: 'package name',
        keyPattern: PACKAGE_NAME,
        value: {
          kind: 'object',
          fields: {
            push: { schema: aclList, defaultFrom: fromRepoDefaults },
            read: { schema: aclList, defaultFrom: fromRepoDefaults },
          },
        },
      },
    },
    auto_build: {
      schema: {
        kind: 'list',
        item: {
          kind: 'object',
          fields: {
            branch: {
              schema: {
                kind: 'string',
                pattern: BRANCH_NAME,
                expect:
                  'a git branch name without "refs/heads/" (no blanks, "..", "~", "^", ":", "?", "*", "[" or "\\")',
              },
              required: true,
            },
            // Defined under pockets: checked in RULES.
            pocket: {
              schema: { kind: 'string', pattern: POCKET_NAME, expect: `a pocket name matching ${src(POCKET_NAME)}` },
              required: true,
            },
            package: {
              schema: {
                kind: 'string',
                pattern: PACKAGE_OR_ANY,
                expect: `"*" or a package name matching ${src(PACKAGE_NAME)}`,
              },
              required: true,
            },
          },
        },
      },
      default: [],
    },
  },
};

type Checked = Omit<Config, 'file'>;
/** What the walk gives before `inheritDefaults`: the keys whose defaults live in another section may be absent. */
type Walked = Omit<Checked, 'ssh' | 'repos' | 'daemon' | 'pockets'> & {
  daemon: Omit<Checked['daemon'], 'slots'> & { slots?: number };
  pockets: Record<string, Omit<PocketConfig, 'distribution'> & { distribution?: string }>;
  ssh: Omit<Checked['ssh'], 'host_key'> & { host_key?: string };
  repos: Record<string, Partial<RepoAcl>>;
};

/** Fills in the defaults that depend on another section (see `fromRepoDefaults`). */
function inheritDefaults(cfg: Walked): Checked {
  const repos = Object.fromEntries(
    Object.entries(cfg.repos).map(([name, repo]) => [
      name,
      { push: repo.push ?? [...cfg.repo_defaults.push], read: repo.read ?? [...cfg.repo_defaults.read] },
    ]),
  );
  const host_key = cfg.ssh.host_key ?? path.join(cfg.state_dir, 'ssh', 'host_ed25519_key');
  // One spelling, so consumers append paths without doubling the slash.
  const base_url = cfg.web.base_url?.replace(/\/+$/, '') ?? null;
  const slots = cfg.daemon.slots ?? machineSlots(cfg.limits.memory_mb);
  const pockets = Object.fromEntries(
    Object.entries(cfg.pockets).map(([name, p]) => [
      name,
      {
        ...p,
        distribution: p.distribution ?? cfg.archive.suite,
        // The native build comes first: the cross builds add to what it made.
        architectures: [...p.architectures].sort((a, b) => Number(b === hostArch()) - Number(a === hostArch())),
      },
    ]),
  );
  return {
    ...cfg,
    pockets,
    daemon: { ...cfg.daemon, slots },
    ssh: { ...cfg.ssh, host_key },
    web: { ...cfg.web, base_url },
    repos,
  };
}

/**
 * Builds at once when daemon.slots is not set: two CPUs per build (each gets parallel=N of
 * its share) and limits.memory_mb of memory per build, at least one.
 */
export function machineSlots(memoryMb: number, cpus = os.availableParallelism(), totalBytes = os.totalmem()): number {
  return Math.max(1, Math.min(Math.floor(cpus / 2), Math.floor(totalBytes / (1024 * 1024) / memoryMb)));
}

/** Every ACL list with its key path, in file-section order (so a shared mistake is reported where it is written). */
function aclLists(cfg: Checked): Array<[key: string, entries: string[]]> {
  return [
    ['admins', cfg.admins],
    ...Object.values(cfg.pockets).map((p): [string, string[]] => [`pockets.${p.name}.acl`, p.acl]),
    ['repo_defaults.push', cfg.repo_defaults.push],
    ['repo_defaults.read', cfg.repo_defaults.read],
    ...Object.entries(cfg.repos).flatMap(([name, r]): Array<[string, string[]]> => [
      [`repos.${name}.push`, r.push],
      [`repos.${name}.read`, r.read],
    ]),
  ];
}

/** Checks that need more than one key at a time. */
export const RULES: ReadonlyArray<Rule<Checked>> = [
  function suitesAreUnique(cfg, fail) {
    // Two pockets publishing into one suite would overwrite each other's packages.
    const owner = new Map<string, string>();
    for (const pocket of Object.values(cfg.pockets)) {
      const first = owner.get(pocket.suite);
      if (first !== undefined) {
        fail(
          `pockets.${pocket.name}.suite`,
          `pockets.${pocket.name}.suite "${pocket.suite}" is already the suite of pocket "${first}"; each pocket needs its own suite`,
        );
      }
      owner.set(pocket.suite, pocket.name);
    }
  },
  function aclGroupsAreDefined(cfg, fail) {
    // Group members are principal names by the schema, so groups cannot nest; only existence is left.
    for (const [key, entries] of aclLists(cfg)) {
      entries.forEach((entry, i) => {
        const group = entry.startsWith('group:') ? entry.slice('group:'.length) : undefined;
        if (group !== undefined && !Object.hasOwn(cfg.groups, group)) {
          fail(`${key}[${i}]`, `${key}[${i}] names group "${group}", which is not defined under groups`);
        }
      });
    }
  },
  function sshListenIsAnAddress(cfg, fail) {
    // A host name would be resolved at every start and could bind somewhere unexpected.
    if (net.isIP(cfg.ssh.listen) === 0)
      fail('ssh.listen', `ssh.listen must be ${LISTEN_EXPECT}, got ${quoted(cfg.ssh.listen)}`);
  },
  function sshPortFits(cfg, fail) {
    if (cfg.ssh.port > 65535) fail('ssh.port', `ssh.port must be ${PORT_EXPECT}, got ${cfg.ssh.port}`);
  },
  function webListenIsAnAddress(cfg, fail) {
    if (net.isIP(cfg.web.listen) === 0)
      fail('web.listen', `web.listen must be ${LISTEN_EXPECT}, got ${quoted(cfg.web.listen)}`);
  },
  function webPortFits(cfg, fail) {
    if (cfg.web.port > 65535) fail('web.port', `web.port must be ${WEB_PORT_EXPECT}, got ${cfg.web.port}`);
  },
  function mailIsComplete(cfg, fail) {
    const m = cfg.mail;
    if (m.smtp_port > 65535) fail('mail.smtp_port', `mail.smtp_port must be ${PORT_EXPECT}, got ${m.smtp_port}`);
    // One without the other would send no AUTH, or AUTH with an empty password: both fail at the server, later.
    if (m.auth_user !== null && m.auth_password_file === undefined) {
      fail(
        'mail.auth_user',
        'mail.auth_user is set but mail.auth_password_file is not; name the file holding the SMTP password',
      );
    }
    if (m.auth_user === null && m.auth_password_file !== undefined) {
      fail(
        'mail.auth_password_file',
        'mail.auth_password_file is set but mail.auth_user is not; set the SMTP user name too',
      );
    }
    // The hook runner kills the e-mail hook at hooks.timeout_seconds; it must give up first to say why.
    if (m.smtp_host !== null && m.timeout_seconds >= cfg.hooks.timeout_seconds) {
      fail(
        'mail.timeout_seconds',
        `mail.timeout_seconds (${m.timeout_seconds}) must be below hooks.timeout_seconds (${cfg.hooks.timeout_seconds}), or the e-mail hook is killed before it can report a failure; lower one or raise the other`,
      );
    }
  },
  function sshKeysAreWholeAndBelongToOnePrincipal(cfg, fail) {
    // A key's blob starts with its own type name; a mismatch is a truncated or mangled paste,
    // which would otherwise only show up as a login that never works.
    const owner = new Map<string, string>();
    for (const [principal, keys] of Object.entries(cfg.ssh.users)) {
      keys.forEach((line, i) => {
        const key = `ssh.users.${principal}[${i}]`;
        const [, type = '', data = ''] = SSH_PUBLIC_KEY.exec(line) ?? [];
        if (!isWholeKey(type, data)) {
          fail(
            key,
            `${key} is not a whole ${type} key (its base64 data does not encode one); copy the line from the .pub file again`,
          );
        }
        // One key naming two principals would make who-is-asking depend on table order.
        const first = owner.get(data);
        if (first !== undefined)
          fail(key, `${key} is the same key as ${first}; a key may belong to one principal only`);
        owner.set(data, key);
      });
    }
  },
  function promotionsComeFromOtherPockets(cfg, fail) {
    for (const pocket of Object.values(cfg.pockets)) {
      pocket.promote_from.forEach((from, i) => {
        const key = `pockets.${pocket.name}.promote_from[${i}]`;
        if (from === pocket.name)
          fail(key, `${key} names pocket "${from}" itself; list the pockets it takes builds from`);
        else if (!Object.hasOwn(cfg.pockets, from))
          fail(key, `${key} names pocket "${from}", which is not defined under pockets`);
      });
    }
  },
  function architecturesIncludeTheHost(cfg, fail) {
    for (const pocket of Object.values(cfg.pockets)) {
      const key = `pockets.${pocket.name}.architectures`;
      const host = hostArch();
      const twice = pocket.architectures.find((a, i) => pocket.architectures.indexOf(a) !== i);
      if (twice) fail(key, `${key} lists ${twice} twice`);
      if (!pocket.architectures.includes(host))
        fail(
          key,
          `${key} must include ${host}, this host's architecture: its native build makes the source and the arch: all packages`,
        );
      else if (pocket.architectures.length > 1 && pocket.sandbox !== 'userns')
        fail(
          key,
          `${key} lists architectures other than ${host}, which are cross-built in the userns sandbox only; use sandbox: userns for this pocket or list ${host} alone`,
        );
    }
  },
  function promotionsKeepEveryArchitecture(cfg, fail) {
    // reprepro's copy leaves out the binaries of architectures the target suite lacks.
    for (const pocket of Object.values(cfg.pockets)) {
      pocket.promote_from.forEach((from, i) => {
        const lacking = cfg.pockets[from]?.architectures.filter((a) => !pocket.architectures.includes(a)) ?? [];
        if (lacking.length)
          fail(
            `pockets.${pocket.name}.promote_from[${i}]`,
            `pockets.${pocket.name}.promote_from[${i}] names pocket "${from}", which publishes ${lacking.join(', ')} that pocket "${pocket.name}" does not; add ${lacking.length > 1 ? 'them' : 'it'} to pockets.${pocket.name}.architectures`,
          );
      });
    }
  },
  function autoBuildTargetsAPocketItCanMove(cfg, fail) {
    cfg.auto_build.forEach((rule, i) => {
      if (!Object.hasOwn(cfg.pockets, rule.pocket)) {
        fail(
          `auto_build[${i}].pocket`,
          `auto_build[${i}].pocket names pocket "${rule.pocket}", which is not defined under pockets`,
        );
      }
      // Pocket branches are moved only by the builder, so a push to one never happens.
      if (Object.hasOwn(cfg.pockets, rule.branch)) {
        fail(
          `auto_build[${i}].branch`,
          `auto_build[${i}].branch "${rule.branch}" is the branch of pocket "${rule.branch}", which only the builder moves; name the branch people push to`,
        );
      }
    });
  },
];

/**
 * Reads and checks the config file. Every problem is a ConfigError whose message is one line,
 * `<file>:<line>: <what>`, with `data` = {file, line, key}.
 */
export function loadConfig(file: string): Config {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (e) {
    const { code, reason } = osReason(e);
    throw new ConfigError(`cannot read the config file ${file}: ${reason}; check the path and its permissions`, {
      file,
      line: null,
      key: null,
      errno: code,
    });
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  // Warnings too: an unresolved tag would otherwise silently become a string.
  const yamlProblem = doc.errors[0] ?? doc.warnings[0];
  if (yamlProblem) {
    const line = Math.max(1, lineCounter.linePos(yamlProblem.pos[0]).line);
    configProblem(file, line, null, yamlProblem.message.split('\n')[0] ?? yamlProblem.message);
  }
  if (doc.contents === null) {
    configProblem(file, 1, null, 'the file is empty; it needs at least a "pockets" section (see config.example.yml)');
  }

  const ctx: WalkContext = { file, dir: path.dirname(absolute), doc, lineCounter, lines: new Map() };
  const checked = inheritDefaults(walk(doc.contents, CONFIG_SCHEMA, '', 1, ctx) as Walked);
  applyRules(checked, RULES, ctx);
  return { file: absolute, ...checked };
}

/**
 * Which config file to use: `--config FILE`, then $POCKETBUILD_CONFIG, then ./config.yml,
 * then /etc/pocketbuild/config.yml. Returns an absolute path; relative names are taken from `cwd`.
 */
export function findConfigFile(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  systemFile: string = SYSTEM_CONFIG_FILE,
): string {
  // A file the user named must exist: falling back to another config would be a surprise.
  if (explicit !== undefined) {
    const p = path.resolve(cwd, explicit);
    if (!fs.existsSync(p)) {
      throw new ConfigError(`the config file ${p} given with --config does not exist; check the path`, { file: p });
    }
    return p;
  }
  const fromEnv = env['POCKETBUILD_CONFIG'];
  if (fromEnv) {
    const p = path.resolve(cwd, fromEnv);
    if (!fs.existsSync(p)) {
      throw new ConfigError(
        `the config file ${p} named by $POCKETBUILD_CONFIG does not exist; fix or unset the variable`,
        { file: p },
      );
    }
    return p;
  }
  const looked = [path.join(cwd, 'config.yml'), systemFile];
  for (const p of looked) if (fs.existsSync(p)) return p;
  throw new ConfigError(
    `no config file found (looked for ${looked.join(' and ')}); pass --config FILE, set $POCKETBUILD_CONFIG, or copy config.example.yml to config.yml`,
    { looked },
  );
}

function osReason(e: unknown): { code: string | null; reason: string } {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : null;
  const message = e instanceof Error ? e.message : String(e);
  // Node says "ENOENT: no such file or directory, open '/x'"; keep the words, drop what we already say.
  const m = /^[A-Z0-9]+: (.*?)(?:, [a-z]+(?: '.*')?)?$/.exec(message);
  const words = m?.[1] ?? message;
  return { code, reason: code ? `${words} (${code})` : words };
}

/**
 * Whether `base64` is a whole public key blob of `type` (RFC 4253 6.6, RFC 5656 3.1): a run of
 * length-prefixed fields that uses the blob up exactly, the first naming the type. ssh-ed25519
 * has one more field, ssh-rsa (e, n) and ecdsa (curve, point) two.
 */
function isWholeKey(type: string, base64: string): boolean {
  if (base64.length % 4 !== 0) return false;
  const blob = Buffer.from(base64, 'base64');
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length;) {
    if (at + 4 > blob.length) return false;
    const n = blob.readUInt32BE(at);
    if (at + 4 + n > blob.length) return false;
    fields.push(blob.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return fields[0]?.toString('latin1') === type && fields.length === (type === 'ssh-ed25519' ? 2 : 3);
}

/** A user's string in a message: JSON-quoted (one line), long ones cut, like walk.ts's show(). */
function quoted(s: string): string {
  const q = JSON.stringify(s);
  return q.length > 60 ? `${q.slice(0, 56)}..."` : q;
}

function src(re: RegExp): string {
  return re.source.replace(/^\^/, '').replace(/\$$/, '');
}
