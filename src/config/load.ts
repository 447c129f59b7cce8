/**
 * Reading the one YAML config file into a checked `Config`. What is allowed is the table
 * CONFIG_SCHEMA plus the cross-key RULES below; the walking itself is in ./walk.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../util/errors.js';
import type { Config } from './types.js';
import { applyRules, configProblem, walk, type NumberSchema, type ObjectSchema, type Rule, type StringSchema, type WalkContext } from './walk.js';

/** Pocket names, as in the SSH grammar. */
export const POCKET_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** Principal (and group) names: what `--principal` may bind an SSH key to. */
export const PRINCIPAL_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
const SUITE = /^[A-Za-z0-9._-]+$/;
const ACL_ENTRY = /^(\*|group:[a-z_][a-z0-9_.-]{0,31}|[a-z_][a-z0-9_.-]{0,31})$/;
const FINGERPRINT = /^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/;
const EMAIL = /^[^\s@<>]+@[^\s@<>]+$/;
const URL_HTTP_OR_FILE = /^(https?|file):\/\/\S+$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;

/** The lookup's last resort. */
export const SYSTEM_CONFIG_FILE = '/etc/pocketbuild/config.yml';

const positiveInteger: NumberSchema = { kind: 'number', integer: true, above: 0, expect: 'a positive integer' };
const positiveSeconds: NumberSchema = { kind: 'number', above: 0, expect: 'a positive number of seconds' };
const suiteName: StringSchema = {
  kind: 'string',
  pattern: SUITE,
  expect: 'a suite name made of letters, digits, ".", "_" and "-"',
};

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
          slots: { schema: positiveInteger, default: 1 },
          rescan_seconds: { schema: positiveSeconds, default: 5 },
          claim_stale_seconds: { schema: positiveSeconds, default: 30 },
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
            schema: { kind: 'list', item: { kind: 'string', pattern: SUITE, expect: 'a component name such as "main"' } },
            default: ['main'],
          },
        },
      },
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
            acl: {
              schema: {
                kind: 'list',
                item: {
                  kind: 'string',
                  pattern: ACL_ENTRY,
                  expect: `"*", "group:NAME" or a principal name matching ${src(PRINCIPAL_NAME)}`,
                },
              },
              default: [],
            },
            acl_command: { schema: { kind: 'path' } },
            allow_backtracking: { schema: { kind: 'boolean' }, default: false },
            sandbox: { schema: { kind: 'enum', values: ['userns', 'vm'] }, default: 'userns' },
            notify: {
              schema: { kind: 'list', item: { kind: 'string', pattern: EMAIL, expect: 'an e-mail address' } },
              default: [],
            },
          },
        },
      },
    },
  },
};

type Checked = Omit<Config, 'file'>;

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
    for (const pocket of Object.values(cfg.pockets)) {
      pocket.acl.forEach((entry, i) => {
        const group = entry.startsWith('group:') ? entry.slice('group:'.length) : undefined;
        if (group !== undefined && !Object.hasOwn(cfg.groups, group)) {
          fail(
            `pockets.${pocket.name}.acl[${i}]`,
            `pockets.${pocket.name}.acl[${i}] names group "${group}", which is not defined under groups`,
          );
        }
      });
    }
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
  const checked = walk(doc.contents, CONFIG_SCHEMA, '', 1, ctx) as Checked;
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

function src(re: RegExp): string {
  return re.source.replace(/^\^/, '').replace(/\$$/, '');
}
