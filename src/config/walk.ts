/**
 * A small schema walker over a parsed YAML document. The schema is data, so a new config key
 * is a new row in a table (see CONFIG_SCHEMA in ./load.ts), not new validation code. Every
 * problem becomes a one-line ConfigError `<file>:<line>: <what>` naming the key path.
 */
import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import { ConfigError } from '../util/errors.js';
import { editDistance } from '../util/edit-distance.js';

/** One key of a fixed mapping. */
export interface Field {
  schema: Schema;
  /** Absent and no default: an error. */
  required?: boolean;
  /** Used when the key is absent (copied, so a shared array is never aliased). */
  default?: unknown;
  /**
   * Used when the key is absent and the default depends on other keys of the same mapping;
   * those that come earlier in the table are already filled in.
   */
  defaultFrom?: (siblings: Readonly<Record<string, unknown>>, ctx: WalkContext) => unknown;
}

/** A mapping with a fixed set of keys; any other key is an error. */
export interface ObjectSchema {
  kind: 'object';
  fields: Record<string, Field>;
}

/** A mapping whose keys are names the user chooses (pockets, groups). */
export interface RecordSchema {
  kind: 'record';
  /** What a key is, for messages: "pocket name". */
  keyNoun: string;
  keyPattern: RegExp;
  value: Schema;
  /** Copy each key into its value object under this property (a pocket knows its name). */
  keyField?: string;
  minEntries?: number;
  /** The message when there are fewer than minEntries. */
  tooFew?: string;
}

export interface ListSchema {
  kind: 'list';
  item: Schema;
}

/** A non-empty string. `expect` completes "KEY must be ...". */
export interface StringSchema {
  kind: 'string';
  expect: string;
  pattern?: RegExp;
  /** Whether an empty value or `null` is allowed (and kept as null). */
  nullable?: boolean;
}

export interface NumberSchema {
  kind: 'number';
  expect: string;
  integer?: boolean;
  /** Values must be strictly greater than this. */
  above?: number;
}

export interface BooleanSchema {
  kind: 'boolean';
}

export interface EnumSchema {
  kind: 'enum';
  values: readonly string[];
}

/** A filesystem path; relative ones are resolved against the config file's directory. */
export interface PathSchema {
  kind: 'path';
}

export type Schema =
  ObjectSchema | RecordSchema | ListSchema | StringSchema | NumberSchema | BooleanSchema | EnumSchema | PathSchema;

export interface WalkContext {
  /** The file as the user named it, for messages. */
  file: string;
  /** Base for relative paths: the config file's directory. */
  dir: string;
  doc: Document;
  lineCounter: LineCounter;
  /** Line of every key path seen, so checks that run after the walk can point at the right line. */
  lines: Map<string, number>;
}

/** A check across keys (duplicate suites, undefined groups) run once the walk has succeeded. */
export type Rule<T> = (value: T, fail: (key: string, what: string) => never) => void;

/** Throws the one ConfigError shape every config problem uses. */
export function configProblem(file: string, line: number, key: string | null, what: string): never {
  throw new ConfigError(`${file}:${line}: ${what}`, { file, line, key });
}

/** Checks `node` against `schema` and returns the plain value with defaults filled in. */
export function walk(node: unknown, schema: Schema, key: string, line: number, ctx: WalkContext): unknown {
  const target = isAlias(node) ? node.resolve(ctx.doc) : node;
  const here = lineOf(target, ctx) ?? line;
  const fail = (what: string): never => configProblem(ctx.file, here, key || null, what);
  const wrong = (expect: string, hint = ''): never =>
    fail(`${key || 'the top level'} must be ${expect}, got ${show(target)}${hint}`);
  const empty = target === null || target === undefined || (isScalar(target) && target.value === null);

  switch (schema.kind) {
    case 'object': {
      // Missing keys are reported at the line of the key that owns this mapping.
      if (empty) return walkObject([], schema, key, line, ctx);
      if (!isMap(target)) return wrong('a mapping of keys');
      return walkObject(target.items, schema, key, line, ctx);
    }
    case 'record': {
      if (empty) return walkRecord([], schema, key, line, ctx);
      if (!isMap(target)) return wrong(`a mapping of ${schema.keyNoun}s`);
      return walkRecord(target.items, schema, key, line, ctx);
    }
    case 'list': {
      if (empty) return [];
      if (!isSeq(target)) return wrong('a list');
      return target.items.map((item, i) => {
        const itemKey = `${key}[${i}]`;
        const itemLine = lineOf(item, ctx) ?? here;
        ctx.lines.set(itemKey, itemLine);
        return walk(item, schema.item, itemKey, itemLine, ctx);
      });
    }
    case 'string': {
      if (empty && schema.nullable) return null;
      const v = isScalar(target) ? target.value : undefined;
      if (typeof v !== 'string') return wrong(schema.expect, quoteHint(target));
      if (v === '' && schema.nullable) return null;
      if (v === '' || (schema.pattern && !schema.pattern.test(v))) return wrong(schema.expect);
      return v;
    }
    case 'number': {
      const v = isScalar(target) ? target.value : undefined;
      const ok =
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (!schema.integer || Number.isInteger(v)) &&
        (schema.above === undefined || v > schema.above);
      if (!ok) return wrong(schema.expect);
      return v;
    }
    case 'boolean': {
      const v = isScalar(target) ? target.value : undefined;
      if (typeof v !== 'boolean') return wrong('true or false');
      return v;
    }
    case 'enum': {
      const v = isScalar(target) ? target.value : undefined;
      if (typeof v !== 'string' || !schema.values.includes(v)) {
        return wrong(`one of ${schema.values.map((s) => JSON.stringify(s)).join(', ')}`);
      }
      return v;
    }
    case 'path': {
      const v = isScalar(target) ? target.value : undefined;
      const expect = 'a path (absolute, or relative to the directory of the config file)';
      if (typeof v !== 'string' || v === '') return wrong(expect, quoteHint(target));
      if (v.includes('\0')) return wrong(expect);
      return path.resolve(ctx.dir, v);
    }
  }
}

type Items = ReadonlyArray<{ key: unknown; value: unknown }>;

function walkObject(items: Items, schema: ObjectSchema, key: string, line: number, ctx: WalkContext): unknown {
  const given = new Map<string, unknown>();
  for (const pair of items) {
    const name = keyName(pair.key, key, line, ctx);
    const full = join(key, name);
    const keyLine = lineOf(pair.key, ctx) ?? line;
    if (!Object.hasOwn(schema.fields, name)) {
      configProblem(ctx.file, keyLine, full, unknownKey(full, name, Object.keys(schema.fields)));
    }
    const field = schema.fields[name] as Field;
    ctx.lines.set(full, lineOf(pair.value, ctx) ?? keyLine);
    given.set(name, walk(pair.value, field.schema, full, keyLine, ctx));
  }
  // Defaults are filled in table order so that defaultFrom sees the keys listed before it.
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema.fields)) {
    let value: unknown;
    if (given.has(name)) value = given.get(name);
    else if (field.defaultFrom) value = field.defaultFrom(out, ctx);
    else if (field.default !== undefined) value = structuredClone(field.default);
    else if (field.required)
      configProblem(ctx.file, line, join(key, name), `missing required key "${join(key, name)}"`);
    else if (field.schema.kind === 'object' || field.schema.kind === 'record' || field.schema.kind === 'list') {
      value = walk(null, field.schema, join(key, name), line, ctx);
    }
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function walkRecord(items: Items, schema: RecordSchema, key: string, line: number, ctx: WalkContext): unknown {
  const out: Record<string, unknown> = {};
  for (const pair of items) {
    const name = keyName(pair.key, key, line, ctx);
    const full = join(key, name);
    const keyLine = lineOf(pair.key, ctx) ?? line;
    if (!schema.keyPattern.test(name)) {
      configProblem(
        ctx.file,
        keyLine,
        full,
        `${schema.keyNoun} "${name}" must match ${patternText(schema.keyPattern)}`,
      );
    }
    ctx.lines.set(full, keyLine);
    let value = walk(pair.value, schema.value, full, keyLine, ctx);
    if (schema.keyField && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      value = { [schema.keyField]: name, ...value };
    }
    // defineProperty, because a user-chosen key such as "__proto__" must stay an ordinary entry.
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  }
  const min = schema.minEntries ?? 0;
  if (Object.keys(out).length < min) {
    configProblem(ctx.file, line, key, schema.tooFew ?? `${key} must have at least ${min} ${schema.keyNoun}(s)`);
  }
  return out;
}

/** Runs the cross-key rules; a failure points at the line of the key it names (or its nearest parent). */
export function applyRules<T>(value: T, rules: ReadonlyArray<Rule<T>>, ctx: WalkContext): void {
  const fail = (key: string, what: string): never => configProblem(ctx.file, lineOfKey(key, ctx), key, what);
  for (const rule of rules) rule(value, fail);
}

function lineOfKey(key: string, ctx: WalkContext): number {
  for (let k = key; k !== ''; k = k.replace(/(\.[^.[]*|\[\d+\])$|^[^.[]*$/, '')) {
    const line = ctx.lines.get(k);
    if (line !== undefined) return line;
  }
  return 1;
}

function keyName(node: unknown, parent: string, line: number, ctx: WalkContext): string {
  const k = isAlias(node) ? node.resolve(ctx.doc) : node;
  if (isScalar(k) && (typeof k.value === 'string' || typeof k.value === 'number' || typeof k.value === 'boolean')) {
    // The source text, so that a key such as 0x10 is reported as written rather than as 16.
    return typeof k.value === 'string' ? k.value : (k.source ?? String(k.value));
  }
  return configProblem(
    ctx.file,
    lineOf(k, ctx) ?? line,
    parent || null,
    `keys under ${parent || 'the top level'} must be plain names, got ${show(k)}`,
  );
}

function lineOf(node: unknown, ctx: WalkContext): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  if (!range) return undefined;
  return Math.max(1, ctx.lineCounter.linePos(range[0]).line);
}

function join(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

/** How a value appears in "got ..." (always one line: strings are JSON-quoted, long ones cut). */
export function show(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing';
    if (typeof v === 'string') {
      const s = JSON.stringify(v);
      return s.length > 60 ? `${s.slice(0, 56)}..."` : s;
    }
    return node.source ?? String(v);
  }
  return 'something else';
}

// YAML reads `suite: 2024` or `key: true` as a number or boolean; say how to get a string.
function quoteHint(node: unknown): string {
  if (isScalar(node) && node.value !== null && typeof node.value !== 'string') {
    return ` (quote it, "${node.source ?? String(node.value)}", to make it a string)`;
  }
  return '';
}

function patternText(re: RegExp): string {
  return re.source.replace(/^\^/, '').replace(/\$$/, '');
}

function unknownKey(full: string, name: string, known: string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const suggestion = best === undefined ? '' : `did you mean "${best}"? `;
  return `unknown key "${full}" (${suggestion}known: ${known.join(', ')})`;
}
