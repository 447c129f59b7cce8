/**
 * deb822 control data (deb822(5)) as found in debian/control, and debian/source/format.
 */
import { PocketbuildError } from '../util/errors.js';

/** Options for `parseDeb822`. */
export interface Deb822Options {
  /**
   * Skip lines starting with '#'. Only debian/control allows them, which is what this parser
   * is mostly for, hence the default of true.
   */
  comments?: boolean;
  /** The file name used in error messages. */
  file?: string;
}

// deb822(5): printable US-ASCII except space and ':', not starting with '#' or '-'.
const FIELD = /^([!"$-,.-9;-~][!-9;-~]*):(.*)$/;
const isBlankLine = (l: string): boolean => /^[ \t]*$/.test(l);

function fail(file: string, line: number, problem: string, text: string): PocketbuildError {
  return new PocketbuildError('InvalidControl', `${file} line ${line}: ${problem}; see deb822(5) for the syntax.`, {
    file,
    line,
    text,
  });
}

/**
 * Parse deb822 text into its stanzas, one Map per stanza with lower-cased field names.
 *
 * Values have surrounding spaces and tabs removed. Continuation lines are joined to the value
 * with '\n', each losing only its first space or tab, so multiline fields keep their layout
 * (a field whose first line is empty thus starts with '\n'); " ." lines are left as ".".
 * Fields with an empty value are dropped, as deb822(5) says they are ignored.
 * Throws `InvalidControl` naming the line for anything that is not deb822.
 */
export function parseDeb822(text: string, options: Deb822Options = {}): Array<Map<string, string>> {
  const comments = options.comments ?? true;
  const file = options.file ?? 'debian/control';
  const stanzas: Array<Map<string, string>> = [];
  let stanza: Map<string, string> | undefined;
  let seen = new Set<string>();
  let field: string | undefined;

  const finishStanza = (): void => {
    if (stanza !== undefined) {
      for (const [k, v] of stanza) if (v === '') stanza.delete(k);
      if (stanza.size > 0) stanzas.push(stanza);
    }
    stanza = undefined;
    seen = new Set();
    field = undefined;
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((l, idx) => {
    const n = idx + 1;
    // Comments do not end a field: they may sit between two continuation lines.
    if (comments && l.startsWith('#')) return;
    if (isBlankLine(l)) {
      finishStanza();
      return;
    }
    if (l.startsWith(' ') || l.startsWith('\t')) {
      if (stanza === undefined || field === undefined) {
        throw fail(file, n, 'a continuation line (starting with a space or tab) must follow a field', l);
      }
      stanza.set(field, `${stanza.get(field) ?? ''}\n${l.slice(1).replace(/[ \t]+$/, '')}`);
      return;
    }
    const m = FIELD.exec(l);
    if (!m) {
      const problem = l.startsWith('#')
        ? 'comment lines are not allowed in this file'
        : 'expected "Field: value", a continuation line, or a blank line';
      throw fail(file, n, problem, l);
    }
    const name = (m[1] ?? '').toLowerCase();
    stanza ??= new Map();
    if (seen.has(name)) throw fail(file, n, `field ${JSON.stringify(m[1])} appears twice in the same stanza`, l);
    seen.add(name);
    field = name;
    stanza.set(name, (m[2] ?? '').replace(/^[ \t]+|[ \t]+$/g, ''));
  });
  finishStanza();
  return stanzas;
}

/** The source package formats pocketbuild knows how to build. */
export type SourceFormat = '3.0 (native)' | '3.0 (quilt)' | '1.0';

/**
 * The source format named by debian/source/format, given that file's text or `undefined` when
 * it does not exist (which dpkg-source reads as "1.0"). Like dpkg-source, only the first line
 * counts. Throws `UnsupportedSourceFormat` for empty, malformed or other formats.
 */
export function sourceFormat(text: string | undefined): SourceFormat {
  if (text === undefined) return '1.0';
  const first = text.split('\n', 1)[0] ?? '';
  // Matches dpkg-source: "1" means "1.0", anything else must be spelled exactly, and a CRLF
  // line end is not forgiven, so refusing it here beats a later dpkg-source failure.
  if (first === '1' || first === '1.0') return '1.0';
  if (first === '3.0 (native)' || first === '3.0 (quilt)') return first;
  const supported = '"3.0 (quilt)", "3.0 (native)" or "1.0"';
  if (first.trim() === '') {
    throw new PocketbuildError(
      'UnsupportedSourceFormat',
      `debian/source/format has nothing on its first line; put ${supported} there, or delete the file to mean "1.0".`,
      { format: first },
    );
  }
  throw new PocketbuildError(
    'UnsupportedSourceFormat',
    `debian/source/format says ${JSON.stringify(first)}, which pocketbuild cannot build; use ${supported}, exactly as written here.`,
    { format: first, supported: ['3.0 (quilt)', '3.0 (native)', '1.0'] },
  );
}

/** What a source package's debian/control says about the batch order: the binaries it builds, the packages its build needs. */
export interface SourceRelations {
  binaries: string[];
  /** Package names of Build-Depends, Build-Depends-Arch and Build-Depends-Indep, every alternative. */
  buildDepends: string[];
}

/** Read the binaries and build-dependency names of a debian/control (its text, as deb822). */
export function sourceRelations(controlText: string): SourceRelations {
  const [source, ...binaries] = parseDeb822(controlText);
  const fields = ['build-depends', 'build-depends-arch', 'build-depends-indep'];
  const buildDepends = fields
    .flatMap((f) => (source?.get(f) ?? '').split(/[,|]/))
    // "libfoo-dev:native (>= 2) [amd64] <!nocheck>" names libfoo-dev.
    .map((d) => d.trim().split(/[\s:([<]/)[0]!)
    .filter(Boolean);
  return {
    binaries: binaries.map((b) => b.get('package')).filter((p): p is string => !!p),
    buildDepends: [...new Set(buildDepends)],
  };
}
