import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ExitCode, OUTCOMES, outcomeTable, type OutcomeCode, type OutcomeEntry } from '../../src/util/outcomes.js';
import {
  NotFoundError,
  PocketbuildError,
  ConflictError,
  UnknownPackage,
  UnknownPocket,
  UsageError,
  outcomeCodeOf,
} from '../../src/util/errors.js';
import type { BuildResult } from '../../src/record/build-record.js';
import type { AuditEvent } from '../../src/record/audit-log.js';
import type { LimitFailure } from '../../src/steps/limit-failure.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CATALOGUE = path.join('src', 'util', 'outcomes.ts');

interface Use {
  code: string;
  where: string;
}

/** Looks like an outcome code (UsageError), not an errno (ENOENT, ERR_FS_FILE_TOO_LARGE). */
const CODE_SHAPE = /^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$/;
/** Types that hold codes: a string literal cast or checked against one of them is a code. */
const CODE_TYPE = /\b(OutcomeCode|OutcomeCodes|CodeWithStatus|CodeWithExit)\b/;

/** The string literals an expression can evaluate to: through ?:, ??, ||, parentheses and casts. */
function literals(e: ts.Expression | undefined): string[] {
  if (!e) return [];
  if (ts.isStringLiteralLike(e)) return [e.text];
  if (
    ts.isParenthesizedExpression(e) ||
    ts.isAsExpression(e) ||
    ts.isSatisfiesExpression(e) ||
    ts.isTypeAssertionExpression(e) ||
    ts.isNonNullExpression(e)
  )
    return literals(e.expression);
  if (ts.isConditionalExpression(e)) return [...literals(e.whenTrue), ...literals(e.whenFalse)];
  if (
    ts.isBinaryExpression(e) &&
    [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken].includes(e.operatorToken.kind)
  )
    return [...literals(e.left), ...literals(e.right)];
  return [];
}

/** The string literal types in a type (`'A' | 'B'`), not inside type references (whose arguments may be statuses: CodeWithStatus<'denied'>). */
function literalTypes(t: ts.TypeNode | undefined): string[] {
  if (!t) return [];
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isLiteralTypeNode(n) && ts.isStringLiteral(n.literal)) out.push(n.literal.text);
    if (!ts.isTypeReferenceNode(n)) ts.forEachChild(n, visit);
  };
  visit(t);
  return out;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sourceFiles(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

/**
 * Every outcome code the given TypeScript sources use, read from the text (so a cast does
 * not hide one): the code argument of `new X(...)` and `super(...)` for every subclass of
 * PocketbuildError (the constructor parameter named `code`), `code` parameters' defaults,
 * `code:` fields and `code` variables, `.code === '…'` comparisons, values cast to or
 * checked against a code type, what functions declared to return a code return, and the
 * literal types of `code:` fields and of OutcomeCodes<…>.
 */
function scanCodes(files: Array<{ name: string; text: string }>): Use[] {
  const parsed = files.map((f) => ({
    name: f.name,
    sf: ts.createSourceFile(f.name, f.text, ts.ScriptTarget.Latest, true),
  }));
  // Pass 1: the classes, their bases, and where their constructors take the code.
  const classes = new Map<string, { base?: string; codeIndex?: number }>();
  for (const { sf } of parsed) {
    const visit = (n: ts.Node): void => {
      if (ts.isClassDeclaration(n) && n.name) {
        const base = n.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0]?.expression;
        const ctor = n.members.find(ts.isConstructorDeclaration);
        const i = ctor?.parameters.findIndex((p) => p.name.getText(sf) === 'code') ?? -1;
        classes.set(n.name.text, {
          base: base && ts.isIdentifier(base) ? base.text : undefined,
          ...(ctor ? { codeIndex: i >= 0 ? i : undefined } : {}),
        });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  const isError = (name: string | undefined, depth = 0): boolean =>
    name === 'PocketbuildError' || (name !== undefined && depth < 20 && isError(classes.get(name)?.base, depth + 1));
  const codeIndex = (name: string | undefined, depth = 0): number | undefined => {
    if (!name || !isError(name) || depth > 20) return undefined;
    const c = classes.get(name);
    if (!c) return undefined;
    return 'codeIndex' in c ? c.codeIndex : codeIndex(c.base, depth + 1);
  };

  // Pass 2: the uses.
  const uses: Use[] = [];
  for (const { name, sf } of parsed) {
    const add = (codes: string[], at: ts.Node, shaped = false): void => {
      for (const code of codes) {
        if (code === '' || (shaped && !CODE_SHAPE.test(code))) continue;
        uses.push({ code, where: `${name}:${sf.getLineAndCharacterOfPosition(at.getStart(sf)).line + 1}` });
      }
    };
    const visit = (n: ts.Node): void => {
      if (ts.isNewExpression(n) && ts.isIdentifier(n.expression)) {
        const i = codeIndex(n.expression.text);
        if (i !== undefined) add(literals(n.arguments?.[i]), n);
      } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.SuperKeyword) {
        let c: ts.Node | undefined = n.parent;
        while (c && !ts.isClassLike(c)) c = c.parent;
        const base = c && ts.isClassLike(c) ? c.heritageClauses?.[0]?.types[0]?.expression : undefined;
        const i = base && ts.isIdentifier(base) ? codeIndex(base.text) : undefined;
        if (i !== undefined) add(literals(n.arguments[i]), n);
      } else if (ts.isParameter(n) && n.name.getText(sf) === 'code') {
        add(literals(n.initializer), n);
        add(literalTypes(n.type), n);
      } else if (ts.isPropertyAssignment(n) && n.name.getText(sf) === 'code') {
        add(literals(n.initializer), n);
      } else if ((ts.isPropertySignature(n) || ts.isPropertyDeclaration(n)) && n.name.getText(sf) === 'code') {
        add(literalTypes(n.type), n);
      } else if (ts.isVariableDeclaration(n) && n.name.getText(sf) === 'code') {
        add(literals(n.initializer), n, !(n.type && CODE_TYPE.test(n.type.getText(sf))));
      } else if (
        ts.isBinaryExpression(n) &&
        [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken].includes(
          n.operatorToken.kind,
        )
      ) {
        for (const [a, b] of [
          [n.left, n.right],
          [n.right, n.left],
        ] as const) {
          if (ts.isPropertyAccessExpression(a) && a.name.text === 'code') add(literals(b), n, true);
        }
      } else if (
        (ts.isAsExpression(n) || ts.isSatisfiesExpression(n) || ts.isTypeAssertionExpression(n)) &&
        CODE_TYPE.test(n.type.getText(sf))
      ) {
        add(literals(n.expression), n);
      } else if (ts.isTypeReferenceNode(n) && n.typeName.getText(sf) === 'OutcomeCodes') {
        for (const t of n.typeArguments ?? []) add(literalTypes(t), n);
      } else if (ts.isReturnStatement(n)) {
        let f: ts.Node | undefined = n.parent;
        while (f && !ts.isFunctionLike(f)) f = f.parent;
        if (f && ts.isFunctionLike(f) && f.type && CODE_TYPE.test(f.type.getText(sf))) add(literals(n.expression), n);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return uses;
}

function srcUses(): Use[] {
  const files = sourceFiles(path.join(root, 'src'))
    .map((f) => path.relative(root, f))
    .filter((f) => f !== CATALOGUE)
    .map((name) => ({ name, text: fs.readFileSync(path.join(root, name), 'utf8') }));
  return scanCodes(files);
}

const entries = Object.entries(OUTCOMES) as Array<[OutcomeCode, OutcomeEntry]>;

describe('the scan of the sources', () => {
  it('finds codes however they are written', () => {
    const text = `
      class PocketbuildError extends Error { constructor(code: OutcomeCode, message: string) { super(message); } }
      class Special extends PocketbuildError { constructor(message: string) { super('FromSuper', message); } }
      class Picky extends PocketbuildError { constructor(message: string, code: OutcomeCodes<'InTypeArg'> = 'InDefault') { super(code, message); } }
      class Grandchild extends Picky {}
      throw new PocketbuildError(
        'MultiLine',
        \`message\`,
      );
      throw new PocketbuildError('Cast' as any, 'x');
      throw new Picky('x', 'AsSecond');
      throw new Grandchild('x', 'Inherited');
      const r = { status: 'failed', code: ok ? 'Field' : 'OtherField' };
      const code = 'Variable';
      const errno = (e as NodeJS.ErrnoException).code === 'ENOENT';
      if (e.code === 'Compared') {}
      const x = 'Asserted' as OutcomeCode;
      function f(): OutcomeCode { return e ? 'Returned' : 'ReturnedToo'; }
      interface L { code: 'TypedField' | 'TypedFieldToo' }
      class Other { constructor(code: string) {} }
      new Other('NotAnError');
      new Error('NotACode');
    `;
    const found = [...new Set(scanCodes([{ name: 'x.ts', text }]).map((u) => u.code))].sort();
    expect(found).toEqual([
      'AsSecond',
      'Asserted',
      'Cast',
      'Compared',
      'Field',
      'FromSuper',
      'InDefault',
      'InTypeArg',
      'Inherited',
      'MultiLine',
      'OtherField',
      'Returned',
      'ReturnedToo',
      'TypedField',
      'TypedFieldToo',
      'Variable',
    ]);
  });

  it('finds a realistic number of codes in src/', () => {
    expect(new Set(srcUses().map((u) => u.code)).size).toBeGreaterThan(50);
  });
});

describe('the outcome catalogue', () => {
  it('has an entry for every code src/ uses (even one cast past the compiler)', () => {
    const unknown = srcUses()
      .filter((u) => !(u.code in OUTCOMES))
      .map((u) => `${u.code} (${u.where})`);
    expect(unknown, 'add these to OUTCOMES in src/util/outcomes.ts, or use an existing code').toEqual([]);
  });

  it('has no entry that src/ does not use', () => {
    const used = new Set(srcUses().map((u) => u.code));
    expect(entries.map(([code]) => code).filter((c) => !used.has(c))).toEqual([]);
  });

  it('gives exit codes and HTTP statuses that agree with whose fault it is', () => {
    const httpForExit: Partial<Record<number, number>> = {
      [ExitCode.usage]: 400,
      [ExitCode.denied]: 403,
      [ExitCode.notFound]: 404,
      [ExitCode.conflict]: 409,
    };
    const exits = new Set<number>(Object.values(ExitCode).filter((e) => e !== ExitCode.ok));
    const problems: string[] = [];
    for (const [code, o] of entries) {
      const bad = (why: string) => problems.push(`${code}: ${why}`);
      if (!exits.has(o.exit)) bad(`exit ${o.exit} is not one of ExitCode's`);
      if (!Number.isInteger(o.http) || o.http < 400 || o.http > 599) bad(`HTTP ${o.http} is not an error status`);
      if (o.blame === 'requester' && !(o.http >= 400 && o.http < 500)) bad("the requester's fault must be a 4xx");
      if (o.blame === 'builder' && !(o.http >= 500 && o.http < 600)) bad("the builder's fault must be a 5xx");
      // The package's faults are how its builds end; timeout is the one way other than failed.
      if (o.blame === 'package' && !(o.status === 'failed' || o.status === 'timeout'))
        bad("the package's fault must end a build failed (or timeout)");
      if (o.blame === 'package' && o.http !== 422)
        bad("the package's fault is a 422 (the request was fine, what it names cannot be built)");
      const expected = httpForExit[o.exit];
      if (expected !== undefined && (o.blame !== 'requester' || o.http !== expected))
        bad(`exit ${o.exit} is the requester's fault with HTTP ${expected}`);
      if ((o.exit === ExitCode.config || o.exit === ExitCode.internal) && o.blame !== 'builder')
        bad(`exit ${o.exit} is the builder's fault`);
      if ((o.status === 'denied' || o.status === 'cancelled') && o.blame !== 'requester')
        bad(`a build ends ${o.status} by the requester's doing`);
      if (o.status === 'timeout' && o.blame !== 'package') bad('a build times out by its own doing');
      if (!/^\S.*\.$/.test(o.summary) || /\.\s+[A-Z]/.test(o.summary))
        bad(`summary ${JSON.stringify(o.summary)} is not one sentence`);
    }
    expect(problems).toEqual([]);
  });

  it('is what errors carry: the exit code comes from the catalogue', () => {
    expect(new UsageError('x').exitCode).toBe(ExitCode.usage);
    expect(new NotFoundError('x').exitCode).toBe(ExitCode.notFound);
    expect(new UnknownPocket('x', []).exitCode).toBe(ExitCode.notFound);
    expect(new UnknownPackage('x').exitCode).toBe(ExitCode.notFound);
    expect(new ConflictError('AlreadyFinished', 'x').exitCode).toBe(ExitCode.conflict);
    for (const [code, o] of entries) expect(new PocketbuildError(code, 'x').exitCode, code).toBe(o.exit);
    expect(outcomeCodeOf(new Error('boom'))).toBe('InternalError');
    expect(OUTCOMES.InternalError.exit).toBe(ExitCode.internal);
  });

  it('is enforced by the compiler', () => {
    // These only need to type-check (tsconfig.test.json): each @ts-expect-error must be an error.
    const refused = [
      // @ts-expect-error not an outcome code
      () => new PocketbuildError('NoSuchOutcome', 'x'),
      // @ts-expect-error ConflictError takes the codes that exit 5 (conflict) only
      () => new ConflictError('BuildFailed', 'x'),
      // @ts-expect-error a build result's code is an outcome code
      (): Pick<BuildResult, 'code'> => ({ code: 'Cancelled' }),
      // @ts-expect-error a limit failure's code is one of the four limits
      (): Pick<LimitFailure, 'code'> => ({ code: 'BuildFailed' }),
      (): AuditEvent<'request.refused'> => ({
        type: 'request.refused',
        actor: 'x',
        // @ts-expect-error so is a code in the audit log
        data: { origin: 'ssh', verb: null, code: 'Refused', reason: 'No.' },
      }),
    ];
    expect(refused).toHaveLength(5);
  });
});

describe('README.md', () => {
  it('has the catalogue as its "Outcome codes" table, right after "Audit log"', () => {
    const file = path.join(root, 'README.md');
    const readme = fs.readFileSync(file, 'utf8');
    const lines = readme.split('\n');
    const headings = lines.flatMap((l, i) => (/^## /.test(l) ? [{ title: l.slice(3).trim(), i }] : []));
    const at = headings.findIndex((h) => h.title === 'Outcome codes');
    expect(at, 'README.md needs a section "## Outcome codes"').toBeGreaterThan(0);
    expect(headings[at - 1]!.title).toBe('Audit log');
    const section = lines.slice(headings[at]!.i + 1, headings[at + 1]?.i ?? lines.length);
    const start = section.findIndex((l) => l.startsWith('|'));
    const end = section.findIndex((l, i) => i > start && !l.startsWith('|'));
    const table = section.slice(start, end < 0 ? section.length : end).join('\n') + '\n';
    if (table !== outcomeTable() && process.env.UPDATE_README === '1') {
      const first = headings[at]!.i + 1 + start;
      fs.writeFileSync(
        file,
        [
          ...lines.slice(0, first),
          ...outcomeTable().trimEnd().split('\n'),
          ...lines.slice(first + table.trimEnd().split('\n').length),
        ].join('\n'),
      );
      return;
    }
    // To regenerate: UPDATE_README=1 npx vitest run test/unit/outcomes.test.ts
    expect(table).toBe(outcomeTable());
  });
});
