import { UsageError } from '../util/errors.js';

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
}

/**
 * A strict parser: `--name value`, `--name=value` for options that take a value, bare
 * `--flag` for the rest; anything unknown is a usage error rather than being ignored.
 */
export function parseArgs(argv: string[], spec: { values?: string[]; flags?: string[] }): ParsedArgs {
  const values = new Set(spec.values ?? []);
  const flags = new Set(spec.flags ?? []);
  const out: ParsedArgs = { positional: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq >= 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
    if (values.has(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value.`);
      out.flags.set(name, v);
    } else if (flags.has(name) && eq < 0) {
      out.flags.set(name, true);
    } else {
      throw new UsageError(`unknown option ${a.split('=')[0]}; see --help.`);
    }
  }
  return out;
}
