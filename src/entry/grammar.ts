/**
 * The grammar of what an SSH user may type (README.md, "SSH: the everyday interface").
 *
 * OpenSSH hands the typed line to our forced command in SSH_ORIGINAL_COMMAND; the embedded
 * ssh2 server hands it over as the exec request. Either way it is attacker-controlled text
 * and it must never reach a shell, so this module is a pure function from that text to a
 * typed Command: no I/O, no environment, no config. Anything it does not positively
 * recognise is refused with a one-line UsageError (exit 2), before anything is looked up,
 * queued or logged by the caller.
 *
 * The rule throughout is "when in doubt, refuse": fields are whitelisted, never escaped.
 */
import { checkField, InvalidRequest } from '../queue/request.js';
import { UsageError } from '../util/errors.js';
import { editDistance } from '../util/edit-distance.js';

export type Command =
  | {
      verb: 'submit';
      pocket: string;
      package: string;
      commit: string;
      json: boolean;
      /** `submit POCKET PKG@COMMIT PKG@COMMIT…`: one batch, every item (package and commit are the first's). */
      batch?: Array<{ package: string; commit: string }>;
    }
  | { verb: 'promote'; package: string; from: string; to: string; version?: string; json: boolean }
  | { verb: 'remove'; package: string; pocket: string; json: boolean }
  | { verb: 'status'; id?: string; json: boolean }
  | { verb: 'queue'; json: boolean }
  | { verb: 'history'; package?: string; json: boolean }
  | { verb: 'log'; id: string; follow: boolean }
  | { verb: 'cancel'; id: string; json: boolean }
  | { verb: 'show'; id: string; json: boolean }
  | { verb: 'whoami'; json: boolean }
  | { verb: 'help'; about?: Verb }
  | { verb: 'git-receive-pack' | 'git-upload-pack'; package: string };

/** OpenSSH itself allows far longer lines; nothing legitimate comes close, and a bound keeps messages and logs small. */
export const MAX_COMMAND_BYTES = 1024;

/** How much of any user-typed text a message may repeat: enough to recognise, not enough to smuggle. */
const MAX_ECHO = 80;

/**
 * Why a command was refused, in `data.reason` of the UsageError: stable, so the SSH front end
 * and --json consumers can tell refusals apart without parsing the message.
 */
export type RefusalReason =
  | 'too-long'
  | 'bad-character'
  | 'unknown-verb'
  | 'bad-option'
  | 'wrong-arguments'
  | 'bad-field'
  | 'bad-repository-path';

type Slot = 'POCKET' | 'FROM' | 'TO' | 'PACKAGE' | 'COMMIT' | 'VERSION' | 'ID' | 'VERB';
type PlainVerb =
  'submit' | 'promote' | 'remove' | 'status' | 'queue' | 'history' | 'log' | 'cancel' | 'show' | 'whoami' | 'help';
type GitVerb = 'git-receive-pack' | 'git-upload-pack';
/** The verbs the local CLI has too. */
export type SharedVerb = Exclude<PlainVerb, 'help'>;
/** Every verb an SSH user may type. */
export type Verb = PlainVerb | GitVerb;

interface Spec {
  /** Positional arguments in order; the first `required` are mandatory, the rest optional. */
  slots: readonly Slot[];
  required: number;
  json: boolean;
  follow: boolean;
  what: string;
}

// One table drives parsing, usage messages and the help text, so they cannot drift apart.
const SPECS: Record<PlainVerb, Spec> = {
  submit: {
    slots: ['POCKET', 'PACKAGE', 'COMMIT'],
    required: 3,
    json: true,
    follow: false,
    what: 'build COMMIT (id, branch, tag); prints its id. PKG@COMMIT...: a batch',
  },
  promote: {
    slots: ['PACKAGE', 'FROM', 'TO', 'VERSION'],
    required: 3,
    json: true,
    follow: false,
    what: 'queue TO publishing the very files FROM publishes (no rebuild); print its id',
  },
  remove: {
    slots: ['PACKAGE', 'POCKET'],
    required: 2,
    json: true,
    follow: false,
    what: 'admins: withdraw PACKAGE from POCKET (its suite and its branch)',
  },
  status: {
    slots: ['ID'],
    required: 0,
    json: true,
    follow: false,
    what: 'where request ID stands; without ID, what is queued, running, just ended',
  },
  queue: { slots: [], required: 0, json: true, follow: false, what: 'the requests waiting and building' },
  history: {
    slots: ['PACKAGE'],
    required: 0,
    json: true,
    follow: false,
    what: 'finished builds, newest first; of PACKAGE only if given',
  },
  log: {
    slots: ['ID'],
    required: 1,
    json: false,
    follow: true,
    what: 'the build log; --follow keeps printing while it runs',
  },
  cancel: { slots: ['ID'], required: 1, json: true, follow: false, what: 'cancel a request (your own; admins any)' },
  show: { slots: ['ID'], required: 1, json: true, follow: false, what: "a build's record and provenance" },
  whoami: { slots: [], required: 0, json: true, follow: false, what: 'who this key is and what it may do' },
  help: { slots: ['VERB'], required: 0, json: false, follow: false, what: "this text, or one verb's" },
};

const GIT_VERBS: Record<GitVerb, string> = {
  'git-receive-pack': 'run by git push',
  'git-upload-pack': 'run by git clone and git fetch',
};

const ALL_VERBS: readonly string[] = [...Object.keys(SPECS), ...Object.keys(GIT_VERBS)];

function isPlainVerb(v: string): v is PlainVerb {
  return Object.hasOwn(SPECS, v);
}

function isGitVerb(v: string): v is GitVerb {
  return Object.hasOwn(GIT_VERBS, v);
}

function usage(verb: PlainVerb | GitVerb): string {
  if (isGitVerb(verb)) return `${verb} 'PACKAGE.git'`;
  const spec = SPECS[verb];
  const parts: string[] = [verb];
  spec.slots.forEach((s, i) => parts.push(i < spec.required ? s : `[${s}]`));
  if (spec.json) parts.push('[--json]');
  if (spec.follow) parts.push('[--follow]');
  return parts.join(' ');
}

/**
 * The verbs the local CLI shares with SSH (all but the git ones, which only git runs), with
 * their arguments and what they do, so that `pocketbuild COMMAND --help` is this same text.
 */
export function sharedVerbs(): Array<{ verb: SharedVerb; args: string; what: string; json: boolean; follow: boolean }> {
  return (Object.keys(SPECS) as PlainVerb[])
    .filter((v): v is SharedVerb => v !== 'help')
    .map((verb) => {
      const spec = SPECS[verb];
      const args = spec.slots.map((s, i) => (i < spec.required ? s : `[${s}]`)).join(' ');
      return { verb, args, what: spec.what, json: spec.json, follow: spec.follow };
    });
}

/** What `help VERB` prints: its usage and what it does. */
export function verbHelp(verb: Verb): string {
  const what = isGitVerb(verb) ? GIT_VERBS[verb] : SPECS[verb].what;
  return `usage: ${usage(verb)}\n  ${what}\n`;
}

/** What `help` prints (and the empty command, i.e. an interactive login): one line per verb. */
export const VERBS_HELP: string = (() => {
  const rows: [string, string][] = [
    ...(Object.keys(SPECS) as PlainVerb[]).map((v): [string, string] => [usage(v), SPECS[v].what]),
    ...(Object.keys(GIT_VERBS) as GitVerb[]).map((v): [string, string] => [usage(v), GIT_VERBS[v]]),
  ];
  const width = Math.max(...rows.map(([u]) => u.length)) + 2;
  const lines = rows.map(([u, what]) => u.padEnd(width) + what);
  // Only the scp-like form works: it makes git send a bare 'PACKAGE.git'; ssh:// URLs send an absolute path, which is refused.
  lines.push('git URLs: build@HOST:PACKAGE.git, e.g. git clone build@HOST:hello.git (no directories, no ssh://)');
  return lines.join('\n') + '\n';
})();

/** One character of user input, shown so that nothing unprintable or ambiguous reaches a terminal or log. */
function escapeChar(ch: string): string {
  const code = ch.codePointAt(0)!;
  if (ch === '"' || ch === '\\') return '\\' + ch;
  if (code >= 0x20 && code <= 0x7e) return ch;
  if (code <= 0xffff) return '\\u' + code.toString(16).padStart(4, '0');
  return `\\u{${code.toString(16)}}`;
}

/** User text for a message: quoted, escaped, and cut at MAX_ECHO characters of output with an ellipsis. */
function show(text: string): string {
  let out = '';
  for (const ch of text) {
    const e = escapeChar(ch);
    if (out.length + e.length > MAX_ECHO) return `"${out}…"`;
    out += e;
  }
  return `"${out}"`;
}

function refuse(reason: RefusalReason, message: string, data: Record<string, unknown> = {}): never {
  // Every piece of user text already went through show(); this only guarantees the one-line promise
  // should a future message forget to.
  const line = message.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => escapeChar(c));
  throw new UsageError(line, { reason, ...data });
}

const BLANKS = /[ \t]+/;

/** Hex ids and prefixes, as resolveCommit accepts them (4 digits is git's minimum abbreviation). */
const HEX_PREFIX_RE = /^[0-9a-fA-F]{4,40}$/;
/**
 * Branch and tag names: a subset of what git allows, chosen so that a name can never be an
 * option (leading alnum), a path escape (no "..", no leading "." per component) or a reflog
 * or revision expression (no "@", "~", "^", ":").
 */
const REF_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}$/;

/** True when `spec` is acceptable as the COMMIT of `submit`: a hex id or prefix, or a branch or tag name. */
export function isCommitSpec(spec: string): boolean {
  if (HEX_PREFIX_RE.test(spec)) return true;
  if (!REF_NAME_RE.test(spec)) return false;
  if (spec.includes('..') || spec.includes('//') || spec.includes('@{')) return false;
  if (spec.endsWith('/') || spec.endsWith('.') || spec.endsWith('.lock')) return false;
  // git refuses these per component too (check-ref-format); "refs/heads/.x" or "a.lock/b" would fail later, less clearly.
  return spec.split('/').every((c) => !c.startsWith('.') && !c.endsWith('.lock'));
}

// Short restatements of the grammars in src/queue/request.ts: checkField's own message also
// repeats up to 80 characters of input, and together they would not fit one readable line.
const FIELD_RULES = {
  pocket: 'a pocket is 1-64 of a-z, 0-9 and "-", starting with a letter or digit',
  package: 'a package is 2-100 of a-z, 0-9, "+", "." and "-", starting with a letter or digit',
  id: 'a request id is 16 of 0-9 and a-z except i, l, o, u',
  version: 'a version is [epoch:]upstream[-revision], starting with a digit, of letters, digits and . + ~ -',
  commit: 'give a commit id (4-40 hex digits) or a branch or tag name',
} as const;

function checkSlot(verb: PlainVerb | GitVerb, slot: Slot, value: string, context = ''): string {
  if (slot === 'VERB') {
    if (!isPlainVerb(value) && !isGitVerb(value)) unknownVerb(value);
    return value;
  }
  const field = (
    {
      POCKET: 'pocket',
      FROM: 'pocket',
      TO: 'pocket',
      PACKAGE: 'package',
      COMMIT: 'commit',
      VERSION: 'version',
      ID: 'id',
    } as const
  )[slot];
  if (value.includes("'") || value.includes('"')) {
    // Typing quotes is the natural mistake of someone who thinks a shell is listening; say there is none.
    refuse(
      'bad-field',
      `${field} ${show(value)} has quotes; nothing here is run by a shell, so type fields without quotes`,
      { field, verb },
    );
  }
  if (field === 'commit') {
    if (!isCommitSpec(value))
      refuse('bad-field', `invalid commit ${show(value)}: ${FIELD_RULES.commit}`, { field, verb });
    return value;
  }
  try {
    return checkField(field, value);
  } catch (e) {
    if (!(e instanceof InvalidRequest)) throw e;
    return refuse('bad-field', `invalid ${field} ${show(value)}${context}: ${FIELD_RULES[field]}`, { field, verb });
  }
}

function unknownVerb(verb: string): never {
  const lower = verb.toLowerCase();
  let hint = '';
  if (verb.startsWith('-')) {
    hint = ' (the verb comes first, options after it)';
  } else if (lower !== verb && ALL_VERBS.includes(lower)) {
    hint = ` (verbs are lower case: ${lower})`;
  } else if (verb.length <= 40) {
    const near = ALL_VERBS.filter((v) => editDistance(lower, v) <= 2);
    if (near.length === 1) hint = ` (did you mean ${near[0]}?)`;
  }
  return refuse('unknown-verb', `unknown verb ${show(verb)}${hint}; try: help`);
}

/**
 * Parse one SSH command line. Returns the Command, or throws a UsageError whose message is a
 * single line safe to print to the user (no control characters, at most 80 characters of
 * their input) and whose `data.reason` is a RefusalReason.
 */
export function parseCommand(raw: string): Command {
  // Checked before anything else so that no later step (or message) ever handles a huge input.
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > MAX_COMMAND_BYTES) {
    refuse('too-long', `the command is ${bytes} bytes; the limit is ${MAX_COMMAND_BYTES}`, { bytes });
  }
  // Printable ASCII only: newlines and CRs could smuggle a second command into logs or a
  // careless wrapper, NUL truncates in C, and look-alike letters (fullwidth, Cyrillic) or
  // invisible ones (zero-width, RTL override) would make a refused name look like a valid one.
  let position = 0;
  for (const ch of raw) {
    position++;
    const code = ch.codePointAt(0)!;
    if (code === 0x20 || code === 0x09 || (code >= 0x21 && code <= 0x7e)) continue;
    refuse(
      'bad-character',
      `character ${position} is "${escapeChar(ch)}", which is not allowed; type printable ASCII separated by spaces`,
      {
        position,
        codePoint: code,
      },
    );
  }

  const fields = raw.split(BLANKS).filter((f) => f !== '');
  const verb = fields[0];
  // An interactive login (`ssh build@HOST`) sends nothing: show what can be done.
  if (verb === undefined) return { verb: 'help' };
  const rest = fields.slice(1);

  if (isGitVerb(verb)) return parseGit(verb, rest);
  if (!isPlainVerb(verb)) unknownVerb(verb);

  const spec = SPECS[verb];
  let json = false;
  let follow = false;
  const args: string[] = [];
  for (const f of rest) {
    if (!f.startsWith('-')) {
      args.push(f);
      continue;
    }
    // Only the exact spellings are flags; anything else with a dash is refused rather than passed
    // on, so "--config=/etc/x" or "-oProxyCommand=..." can never reach a program that parses options.
    if ((f === '--json' && spec.json) || (f === '--follow' && spec.follow)) {
      const seen = f === '--json' ? json : follow;
      if (seen) refuse('bad-option', `option ${f} is given twice; usage: ${usage(verb)}`, { verb });
      if (f === '--json') json = true;
      else follow = true;
      continue;
    }
    if (f === '--json' || f === '--follow')
      refuse('bad-option', `${verb} has no ${f} option; usage: ${usage(verb)}`, { verb });
    refuse('bad-option', `unknown option ${show(f)} for ${verb}; usage: ${usage(verb)}`, { verb });
  }

  if (verb === 'submit' && args.length >= 2 && args.slice(1).every((a) => a.includes('@')))
    return parseBatch(args, json);
  if (args.length < spec.required || args.length > spec.slots.length) {
    const got = args.length === 1 ? '1 argument' : `${args.length} arguments`;
    refuse('wrong-arguments', `usage: ${usage(verb)} (got ${got})`, { verb, count: args.length });
  }
  const [a0, a1, a2, a3] = args.map((value, i) => checkSlot(verb, spec.slots[i]!, value));

  switch (verb) {
    case 'submit':
      return { verb, pocket: a0!, package: a1!, commit: a2!, json };
    case 'promote':
      return { verb, package: a0!, from: a1!, to: a2!, ...(a3 === undefined ? {} : { version: a3 }), json };
    case 'remove':
      return { verb, package: a0!, pocket: a1!, json };
    case 'status':
      return a0 === undefined ? { verb, json } : { verb, id: a0, json };
    case 'queue':
      return { verb, json };
    case 'history':
      return a0 === undefined ? { verb, json } : { verb, package: a0, json };
    case 'log':
      return { verb, id: a0!, follow };
    case 'cancel':
    case 'show':
      return { verb, id: a0!, json };
    case 'whoami':
      return { verb, json };
    case 'help':
      return a0 === undefined ? { verb } : { verb, about: a0 as Verb };
  }
}

/**
 * git runs `git-upload-pack 'hello.git'` for `build@HOST:hello.git`, quoting the path for a
 * remote shell it assumes. We accept exactly that, or the same unquoted, and nothing that could
 * name another directory: the path is a package name plus ".git", resolved by the caller
 * inside repos_dir.
 */
function parseGit(verb: GitVerb, rest: string[]): Command {
  if (rest.length !== 1) {
    const got = rest.length === 1 ? '1 argument' : `${rest.length} arguments`;
    refuse('wrong-arguments', `usage: ${usage(verb)} (got ${got}); git runs this for build@HOST:PACKAGE.git`, {
      verb,
      count: rest.length,
    });
  }
  const arg = rest[0]!;
  // An unquoted leading dash would be an option to the real git-*-pack (--upload-pack=... runs a program).
  if (arg.startsWith('-')) refuse('bad-option', `${verb} takes no options; usage: ${usage(verb)}`, { verb });
  if (arg.includes('"'))
    refuse('bad-repository-path', `repository path ${show(arg)} has double quotes; expected 'PACKAGE.git'`, { verb });
  let name = arg;
  if (arg.startsWith("'")) {
    if (arg.length < 2 || !arg.endsWith("'"))
      refuse('bad-repository-path', `repository path ${show(arg)} has an unbalanced quote; expected 'PACKAGE.git'`, {
        verb,
      });
    name = arg.slice(1, -1);
  }
  // git's own quoting of a "'" is '\'' ; a package name never contains one, so any quote left is an attack or a mistake.
  if (name.includes("'"))
    refuse(
      'bad-repository-path',
      `repository path ${show(arg)} has unbalanced or nested quotes; expected 'PACKAGE.git'`,
      { verb },
    );
  if (name.startsWith('-'))
    refuse('bad-repository-path', `repository path ${show(arg)} looks like an option; expected 'PACKAGE.git'`, {
      verb,
    });
  if (name.includes('/')) {
    refuse(
      'bad-repository-path',
      `repository path ${show(arg)} has a "/"; repositories are build@HOST:PACKAGE.git, with no directory`,
      { verb },
    );
  }
  if (!name.endsWith('.git'))
    refuse('bad-repository-path', `repository path ${show(arg)} does not end in .git; expected 'PACKAGE.git'`, {
      verb,
    });
  const pkg = checkSlot(verb, 'PACKAGE', name.slice(0, -'.git'.length), ' in the repository path');
  return { verb, package: pkg };
}

/** The most requests one batch may hold (the line's length bounds it anyway). */
export const MAX_BATCH = 20;

/** `submit POCKET PKG@COMMIT PKG@COMMIT…`: each package once. */
function parseBatch(args: string[], json: boolean): Command {
  const pocket = checkSlot('submit', 'POCKET', args[0]!);
  const items = args.slice(1).map((a) => {
    const at = a.indexOf('@');
    if (at <= 0 || at === a.length - 1)
      refuse('bad-field', `${show(a)} is not PACKAGE@COMMIT; usage: submit POCKET PKG@COMMIT PKG@COMMIT...`, {
        field: 'batch',
        verb: 'submit',
      });
    return {
      package: checkSlot('submit', 'PACKAGE', a.slice(0, at), ' in a batch'),
      commit: checkSlot('submit', 'COMMIT', a.slice(at + 1), ' in a batch'),
    };
  });
  if (items.length > MAX_BATCH)
    refuse('wrong-arguments', `a batch holds at most ${MAX_BATCH} requests (got ${items.length})`, { verb: 'submit' });
  const twice = items.find((x, i) => items.findIndex((y) => y.package === x.package) !== i);
  if (twice)
    refuse('bad-field', `package ${twice.package} is in the batch twice; a batch builds each package once`, {
      field: 'batch',
      verb: 'submit',
    });
  return { verb: 'submit', pocket, package: items[0]!.package, commit: items[0]!.commit, json, batch: items };
}
