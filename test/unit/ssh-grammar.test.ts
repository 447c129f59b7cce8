import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isCommitSpec, MAX_COMMAND_BYTES, parseCommand, VERBS_HELP, type Command } from '../../src/entry/grammar.js';
import { UsageError } from '../../src/util/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CORPUS = path.join(here, '..', 'fixtures', 'hostile-commands.jsonl');

interface Hostile {
  cmd: string;
  why: string;
}

function loadCorpus(): Hostile[] {
  const lines = fs
    .readFileSync(CORPUS, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  return lines.map((l, i) => {
    const o = JSON.parse(l) as Partial<Hostile>;
    if (typeof o.cmd !== 'string' || typeof o.why !== 'string')
      throw new Error(`corpus line ${i + 1} lacks cmd or why`);
    return { cmd: o.cmd, why: o.why };
  });
}

/** The error parseCommand throws for `raw`, failing the test when it parses instead. */
function refusal(raw: string): UsageError {
  try {
    const c = parseCommand(raw);
    throw new Error(`accepted ${JSON.stringify(raw).slice(0, 120)} as ${JSON.stringify(c)}`);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
}

/** Messages go to a terminal and to logs: one line, nothing a terminal would interpret, short. */
function expectSafeMessage(e: UsageError): void {
  expect(e.code).toBe('UsageError');
  expect(e.exitCode).toBe(2);
  expect(e.message).not.toMatch(/[\n\r]/);
  expect(e.message).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]/);
  expect(e.message.length).toBeLessThanOrEqual(200);
  expect(e.message.length).toBeGreaterThan(0);
  // Starts lower-case so it reads as the tail of "pocketbuild: ...".
  expect(e.message[0]).toMatch(/[a-z]/);
  expect(typeof e.data.reason).toBe('string');
}

describe('hostile command corpus', () => {
  const corpus = loadCorpus();

  it('is big, varied and self-describing', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(220);
    expect(new Set(corpus.map((h) => h.why)).size).toBe(corpus.length);
    expect(new Set(corpus.map((h) => h.cmd)).size).toBe(corpus.length);
  });

  it.each(corpus.map((h) => [h.why, h.cmd] as const))('refuses: %s', (_why, cmd) => {
    expectSafeMessage(refusal(cmd));
  });
});

const ID = '01m802bexgeq65qe';
const FULL = '3f2a91c0d4e5b6a7980112233445566778899aab';

const VALID: [string, Command][] = [
  ['', { verb: 'help' }],
  ['   ', { verb: 'help' }],
  ['\t \t', { verb: 'help' }],
  ['help', { verb: 'help' }],
  ['  help  ', { verb: 'help' }],
  ['submit prod hello 3f2a91c', { verb: 'submit', pocket: 'prod', package: 'hello', commit: '3f2a91c', json: false }],
  ['promote hello dev stable', { verb: 'promote', package: 'hello', from: 'dev', to: 'stable', json: false }],
  [
    'promote hello dev stable 1:2.10-3~bpo12+1 --json',
    { verb: 'promote', package: 'hello', from: 'dev', to: 'stable', version: '1:2.10-3~bpo12+1', json: true },
  ],
  ['remove hello stable', { verb: 'remove', package: 'hello', pocket: 'stable', json: false }],
  [
    'submit prod hello-prog@main libhello@v2.0 --json',
    {
      verb: 'submit',
      pocket: 'prod',
      package: 'hello-prog',
      commit: 'main',
      json: true,
      batch: [
        { package: 'hello-prog', commit: 'main' },
        { package: 'libhello', commit: 'v2.0' },
      ],
    },
  ],
  [
    'submit prod solo@3f2a91c',
    {
      verb: 'submit',
      pocket: 'prod',
      package: 'solo',
      commit: '3f2a91c',
      json: false,
      batch: [{ package: 'solo', commit: '3f2a91c' }],
    },
  ],
  ['submit prod hello main --json', { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'main', json: true }],
  ['submit --json prod hello main', { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'main', json: true }],
  ['submit prod --json hello main', { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'main', json: true }],
  [`submit prod hello ${FULL}`, { verb: 'submit', pocket: 'prod', package: 'hello', commit: FULL, json: false }],
  ['submit prod hello 3F2A', { verb: 'submit', pocket: 'prod', package: 'hello', commit: '3F2A', json: false }],
  ['submit prod\thello\tmain', { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'main', json: false }],
  [
    '\tsubmit \t prod\t\thello   main\t',
    { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'main', json: false },
  ],
  [
    'submit bookworm-backports libfoo++ debian/1.2.3-1',
    { verb: 'submit', pocket: 'bookworm-backports', package: 'libfoo++', commit: 'debian/1.2.3-1', json: false },
  ],
  [
    'submit 0 g++-12 refs/heads/main',
    { verb: 'submit', pocket: '0', package: 'g++-12', commit: 'refs/heads/main', json: false },
  ],
  ['submit prod hello v1.0_rc1', { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'v1.0_rc1', json: false }],
  ['submit prod hello HEAD', { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'HEAD', json: false }],
  [
    'submit prod hello upstream/2.10+dfsg',
    { verb: 'submit', pocket: 'prod', package: 'hello', commit: 'upstream/2.10+dfsg', json: false },
  ],
  ['status', { verb: 'status', json: false }],
  ['status --json', { verb: 'status', json: true }],
  [`status ${ID}`, { verb: 'status', id: ID, json: false }],
  [`status --json ${ID}`, { verb: 'status', id: ID, json: true }],
  ['queue', { verb: 'queue', json: false }],
  ['queue --json', { verb: 'queue', json: true }],
  ['history', { verb: 'history', json: false }],
  ['history hello', { verb: 'history', package: 'hello', json: false }],
  ['history hello --json', { verb: 'history', package: 'hello', json: true }],
  [`log ${ID}`, { verb: 'log', id: ID, follow: false }],
  [`log ${ID} --follow`, { verb: 'log', id: ID, follow: true }],
  [`log --follow ${ID}`, { verb: 'log', id: ID, follow: true }],
  [`cancel ${ID}`, { verb: 'cancel', id: ID, json: false }],
  [`cancel ${ID} --json`, { verb: 'cancel', id: ID, json: true }],
  [`show ${ID}`, { verb: 'show', id: ID, json: false }],
  [`show\t${ID}\t--json`, { verb: 'show', id: ID, json: true }],
  ['whoami', { verb: 'whoami', json: false }],
  ['whoami --json', { verb: 'whoami', json: true }],
  ["git-upload-pack 'hello.git'", { verb: 'git-upload-pack', package: 'hello' }],
  ["git-receive-pack 'hello.git'", { verb: 'git-receive-pack', package: 'hello' }],
  ['git-receive-pack hello.git', { verb: 'git-receive-pack', package: 'hello' }],
  ['git-upload-pack hello.git', { verb: 'git-upload-pack', package: 'hello' }],
  ["git-upload-pack 'libfoo++.git'", { verb: 'git-upload-pack', package: 'libfoo++' }],
  ["git-receive-pack\t'python3.12.git'", { verb: 'git-receive-pack', package: 'python3.12' }],
];

describe('valid commands', () => {
  it('has a good number of cases', () => {
    expect(VALID.length).toBeGreaterThanOrEqual(30);
  });

  it.each(VALID)('parses %j', (raw, expected) => {
    expect(parseCommand(raw)).toStrictEqual(expected);
  });

  it('accepts a command of exactly the byte limit', () => {
    const raw = 'whoami' + ' '.repeat(MAX_COMMAND_BYTES - 'whoami'.length);
    expect(parseCommand(raw)).toStrictEqual({ verb: 'whoami', json: false });
    expect(refusal(raw + ' ').data.reason).toBe('too-long');
  });
});

describe('refusal messages', () => {
  const message = (raw: string): string => refusal(raw).message;

  it('names the position and the character, escaped', () => {
    expect(message('submit prod\u0000hello main')).toBe(
      'character 12 is "\\u0000", which is not allowed; type printable ASCII separated by spaces',
    );
    expect(message('whoami\n')).toMatch(/^character 7 is "\\u000a"/);
    expect(message('submit prod hell\u043e main')).toMatch(/^character 17 is "\\u043e"/);
    expect(message('submit \uff50rod hello main')).toMatch(/^character 8 is "\\uff50"/);
    // Positions count characters, not UTF-16 units, so an emoji before the culprit counts once.
    expect(message('status \ud83d\ude00')).toMatch(/^character 8 is "\\u\{1f600\}"/);
  });

  it('suggests the verb that was meant', () => {
    expect(message('sumbit prod hello main')).toBe('unknown verb "sumbit" (did you mean submit?); try: help');
    expect(message('SUBMIT prod hello main')).toBe('unknown verb "SUBMIT" (verbs are lower case: submit); try: help');
    expect(message('frobnicate')).toBe('unknown verb "frobnicate"; try: help');
    expect(message('--json whoami')).toMatch(/the verb comes first/);
  });

  it('gives the usage on a wrong number of fields', () => {
    expect(message('submit prod hello')).toBe('usage: submit POCKET PACKAGE COMMIT [--json] (got 2 arguments)');
    expect(message(`log ${ID} extra`)).toBe('usage: log ID [--follow] (got 2 arguments)');
    expect(message('help submit me')).toBe('usage: help [VERB] (got 2 arguments)');
    expect(message('help me')).toBe('unknown verb "me"; try: help');
    expect(message("git-receive-pack 'a.git' 'b.git'")).toMatch(
      /^usage: git-receive-pack 'PACKAGE.git' \(got 2 arguments\)/,
    );
  });

  it('refuses options it does not know without running anything', () => {
    expect(message('submit prod hello main --config=/etc/x')).toBe(
      'unknown option "--config=/etc/x" for submit; usage: submit POCKET PACKAGE COMMIT [--json]',
    );
    expect(message(`log ${ID} --json`)).toBe('log has no --json option; usage: log ID [--follow]');
    expect(message('whoami --json --json')).toBe('option --json is given twice; usage: whoami [--json]');
    expect(message('git-upload-pack --upload-pack=id')).toMatch(/^git-upload-pack takes no options/);
  });

  it('refuses a promotion or removal with missing arguments, a bad version or a bad pocket', () => {
    expect(refusal('promote hello dev').message).toBe(
      'usage: promote PACKAGE FROM TO [VERSION] [--json] (got 2 arguments)',
    );
    expect(refusal('promote hello dev stable 1.0 extra').message).toBe(
      'usage: promote PACKAGE FROM TO [VERSION] [--json] (got 5 arguments)',
    );
    for (const bad of ['v1.0', '1.0;rm', '1:', '1.0/x', '9'.repeat(102)])
      expect(refusal(`promote hello dev stable ${bad}`).message, bad).toMatch(/^invalid version "/);
    expect(refusal('promote hello Dev stable').message).toMatch(/^invalid pocket "Dev": /);
    expect(refusal('remove hello').message).toBe('usage: remove PACKAGE POCKET [--json] (got 1 argument)');
    expect(refusal('remove hello stable --follow').message).toBe(
      'remove has no --follow option; usage: remove PACKAGE POCKET [--json]',
    );
  });

  it('refuses a batch item that is not PACKAGE@COMMIT, a package twice, and too many', () => {
    expect(refusal('submit prod ab@main @main').message).toBe(
      '"@main" is not PACKAGE@COMMIT; usage: submit POCKET PKG@COMMIT PKG@COMMIT...',
    );
    expect(refusal('submit prod ab@main ab@dev').message).toBe(
      'package ab is in the batch twice; a batch builds each package once',
    );
    expect(refusal('submit prod ab@main Bad@dev').message).toMatch(/^invalid package "Bad" in a batch: /);
    expect(refusal('submit prod ab@main cd@x..y').message).toMatch(/^invalid commit "x\.\.y": /);
    const many = Array.from({ length: 21 }, (_, i) => `p${i}@main`).join(' ');
    expect(refusal(`submit prod ${many}`).message).toBe('a batch holds at most 20 requests (got 21)');
  });

  it('names the field and its rule', () => {
    expect(message('submit Prod hello main')).toMatch(/^invalid pocket "Prod": a pocket is/);
    expect(message('submit prod hello main@{1}')).toMatch(/^invalid commit "main@\{1\}": /);
    expect(message("submit prod '' main")).toMatch(/^package "''" has quotes; nothing here is run by a shell/);
    expect(message('status 01m802bexgeq65qi')).toMatch(/^invalid id "01m802bexgeq65qi": /);
  });

  it('explains repository paths', () => {
    expect(message("git-upload-pack '/srv/x.git'")).toMatch(/has a "\/"; repositories are build@HOST:PACKAGE\.git/);
    expect(message("git-upload-pack 'hello'")).toMatch(/does not end in \.git/);
    expect(message("git-upload-pack 'hello.git")).toMatch(/unbalanced quote/);
    expect(message('git-upload-pack "hello.git"')).toMatch(/double quotes/);
    expect(message("git-upload-pack 'Hello.git'")).toMatch(/^invalid package "Hello" in the repository path: /);
  });

  it('repeats at most 80 characters of input, escaped', () => {
    const m = message('submit prod hello ' + 'f'.repeat(1000) + ';');
    expect(m).toContain('"' + 'f'.repeat(80) + '…"');
    expect(m).not.toContain('f'.repeat(81));
    // Escapes count towards the 80, so quotes cannot double the echo.
    const q = message('submit prod ' + '\\'.repeat(200) + ' main');
    expect(q).toContain('"' + '\\\\'.repeat(40) + '…"');
    expect(message('x'.repeat(2000))).toBe('the command is 2000 bytes; the limit is 1024');
  });

  it('records a stable reason', () => {
    expect(refusal('x'.repeat(1025)).data.reason).toBe('too-long');
    expect(refusal('a\u0000').data).toMatchObject({ reason: 'bad-character', position: 2, codePoint: 0 });
    expect(refusal('nope').data.reason).toBe('unknown-verb');
    expect(refusal('queue -x').data.reason).toBe('bad-option');
    expect(refusal('queue x').data.reason).toBe('wrong-arguments');
    expect(refusal('history X').data).toMatchObject({ reason: 'bad-field', field: 'package' });
    expect(refusal("git-upload-pack '../x.git'").data.reason).toBe('bad-repository-path');
  });
});

describe('commit specs', () => {
  it('takes hex ids and ordinary branch and tag names', () => {
    for (const ok of [
      '3f2a',
      FULL,
      'main',
      'debian/sid',
      'v1.2.3',
      'upstream/1.0+dfsg',
      'feature-x_y',
      'refs/tags/v1',
    ]) {
      expect(isCommitSpec(ok), ok).toBe(true);
    }
  });

  it('refuses revision expressions and unsafe names', () => {
    for (const bad of [
      '',
      'main@{1}',
      'HEAD~1',
      'HEAD^',
      'a..b',
      'a//b',
      'a/',
      'a.lock',
      'a.',
      'a/.b',
      'a.lock/b',
      '-x',
      '.x',
      'a b',
      'a'.repeat(201),
      'a:b',
    ]) {
      expect(isCommitSpec(bad), bad).toBe(false);
    }
  });
});

describe('help text', () => {
  it('has one line per verb with its arguments, and the git URL form', () => {
    const lines = VERBS_HELP.trimEnd().split('\n');
    for (const usage of [
      'submit POCKET PACKAGE COMMIT [--json]',
      'promote PACKAGE FROM TO [VERSION] [--json]',
      'remove PACKAGE POCKET [--json]',
      'status [ID] [--json]',
      'queue [--json]',
      'history [PACKAGE] [--json]',
      'log ID [--follow]',
      'cancel ID [--json]',
      'show ID [--json]',
      'whoami [--json]',
      'help ',
      "git-receive-pack 'PACKAGE.git'",
      "git-upload-pack 'PACKAGE.git'",
    ]) {
      expect(
        lines.filter((l) => l.startsWith(usage)),
        usage,
      ).toHaveLength(1);
    }
    expect(lines.filter((l) => l.includes('build@HOST:PACKAGE.git') && l.startsWith('git URLs'))).toHaveLength(1);
    expect(lines).toHaveLength(14);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(120);
  });
});
