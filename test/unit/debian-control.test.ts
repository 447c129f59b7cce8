import { describe, expect, it } from 'vitest';
import { parseDeb822, sourceFormat } from '../../src/debian/control.js';
import { PocketbuildError } from '../../src/util/errors.js';

const HELLO_CONTROL = `Source: hello
Section: devel
Priority: optional
Maintainer: Santiago Vila <sanvila@debian.org>
Standards-Version: 4.6.2
Build-Depends: debhelper-compat (= 13),
# help2man is only needed when the manual page is regenerated
               help2man
Homepage: https://www.gnu.org/software/hello/
Rules-Requires-Root: no

Package: hello
Architecture: any
Depends: \${shlibs:Depends}, \${misc:Depends}
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.  It
 allows non-programmers to use a classic computer science tool which
 would otherwise be unavailable to them.
 .
 Seriously, though: this is an example of how to do a Debian package.
 It is the Debian version of the GNU Project's \`hello world' program
 (which is itself an example for the GNU Project).
`;

function errorOf(f: () => unknown): PocketbuildError {
  try {
    f();
  } catch (e) {
    if (e instanceof PocketbuildError) return e;
    throw e;
  }
  throw new Error('expected a PocketbuildError');
}

describe('parseDeb822', () => {
  it('splits a hello-style debian/control into source and binary stanzas', () => {
    const [source, binary, ...rest] = parseDeb822(HELLO_CONTROL);
    expect(rest).toEqual([]);
    expect([...(source?.keys() ?? [])]).toEqual([
      'source',
      'section',
      'priority',
      'maintainer',
      'standards-version',
      'build-depends',
      'homepage',
      'rules-requires-root',
    ]);
    expect(source?.get('source')).toBe('hello');
    expect(source?.get('maintainer')).toBe('Santiago Vila <sanvila@debian.org>');
    // The comment sits between the field and its continuation without ending the field.
    expect(source?.get('build-depends')).toBe('debhelper-compat (= 13),\n              help2man');
    expect(binary?.get('package')).toBe('hello');
    expect(binary?.get('depends')).toBe('${shlibs:Depends}, ${misc:Depends}');
    expect(binary?.get('description')?.split('\n')).toEqual([
      'example package based on GNU hello',
      'The GNU hello program produces a familiar, friendly greeting.  It',
      'allows non-programmers to use a classic computer science tool which',
      'would otherwise be unavailable to them.',
      '.',
      'Seriously, though: this is an example of how to do a Debian package.',
      "It is the Debian version of the GNU Project's `hello world' program",
      '(which is itself an example for the GNU Project).',
    ]);
  });

  it('treats field names case-insensitively and trims values', () => {
    const [s] = parseDeb822('SOURCE:\thello \t\nbuild-DEPENDS:debhelper-compat (= 13)\n');
    expect(s?.get('source')).toBe('hello');
    expect(s?.get('build-depends')).toBe('debhelper-compat (= 13)');
  });

  it('keeps an empty first line of a multiline field as a leading newline', () => {
    const [s] = parseDeb822('Source: hello\nBuild-Depends:\n debhelper-compat (= 13),\n\thelp2man,  \n');
    expect(s?.get('build-depends')).toBe('\ndebhelper-compat (= 13),\nhelp2man,');
  });

  it('drops empty fields, as deb822(5) says they are ignored', () => {
    const [s] = parseDeb822('Source: hello\nBuild-Conflicts:\nSection: devel\n');
    expect(s?.has('build-conflicts')).toBe(false);
    expect(s?.get('section')).toBe('devel');
  });

  it('separates stanzas by runs of blank or whitespace-only lines, with CRLF too', () => {
    const stanzas = parseDeb822('\n\nSource: a\r\n \t\r\n\r\nPackage: b\r\n\r\n\r\nPackage: c\r\n\r\n');
    expect(stanzas.map((s) => Object.fromEntries(s))).toEqual([{ source: 'a' }, { package: 'b' }, { package: 'c' }]);
  });

  it('returns no stanzas for empty or comment-only text', () => {
    expect(parseDeb822('')).toEqual([]);
    expect(parseDeb822('# nothing here yet\n\n#Source: hello\n')).toEqual([]);
  });

  it('accepts the odd but legal field-name characters', () => {
    const [s] = parseDeb822('X-Foo_Bar.Baz!: 1\nXS-Python-Version: >= 3.11\n');
    expect(s?.get('x-foo_bar.baz!')).toBe('1');
    expect(s?.get('xs-python-version')).toBe('>= 3.11');
  });

  it.each<[string, string, number, RegExp]>([
    ['a continuation line first', ' debhelper\nSource: hello\n', 1, /continuation line/],
    ['a continuation after a blank line', 'Source: hello\n\n foo\n', 3, /continuation line/],
    ['a line without a colon', 'Source: hello\nSection devel\n', 2, /expected "Field: value"/],
    ['a field name starting with "-"', 'Source: hello\n-Foo: bar\n', 2, /expected "Field: value"/],
    ['a space in the field name', 'Source: hello\nBuild Depends: foo\n', 2, /expected "Field: value"/],
    ['a duplicate field', 'Source: hello\nPriority: optional\nsource: hello2\n', 3, /"source" appears twice/],
  ])('rejects %s, naming the line', (_name, text, line, message) => {
    const e = errorOf(() => parseDeb822(text));
    expect(e.code).toBe('InvalidControl');
    expect(e.data.line).toBe(line);
    expect(e.message).toMatch(new RegExp(`^debian/control line ${line}: `));
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/\.$/);
  });

  it('rejects comments where they are not allowed, naming the file it was given', () => {
    const e = errorOf(() => parseDeb822('Package: hello\n# hi\n', { comments: false, file: 'hello_2.10-3.dsc' }));
    expect(e.message).toMatch(/^hello_2\.10-3\.dsc line 2: comment lines are not allowed/);
    expect(e.data.file).toBe('hello_2.10-3.dsc');
  });

  it('allows a repeated field name in different stanzas', () => {
    expect(parseDeb822('Package: a\n\nPackage: b\n')).toHaveLength(2);
  });
});

describe('sourceFormat', () => {
  it.each<[string | undefined, string]>([
    [undefined, '1.0'],
    ['3.0 (quilt)\n', '3.0 (quilt)'],
    ['3.0 (native)\n', '3.0 (native)'],
    ['3.0 (quilt)', '3.0 (quilt)'],
    ['1.0\n', '1.0'],
    ['1\n', '1.0'],
    ['3.0 (quilt)\nanything after the first line is ignored, as by dpkg-source\n', '3.0 (quilt)'],
  ])('reads %j as %s', (text, want) => {
    expect(sourceFormat(text)).toBe(want);
  });

  it.each(['3.0 (git)\n', '3.0 (bzr)\n', '2.0\n', '3.0 (Quilt)\n', '3.0 (quilt) \n', '3.0 (quilt)\r\n', 'quilt\n'])(
    'rejects %j with the supported formats in the message',
    (text) => {
      const e = errorOf(() => sourceFormat(text));
      expect(e.code).toBe('UnsupportedSourceFormat');
      expect(e.data.format).toBe(text.split('\n')[0]);
      expect(e.message).toContain('"3.0 (quilt)", "3.0 (native)" or "1.0"');
    },
  );

  it('rejects an empty file', () => {
    for (const text of ['', '\n', '  \n3.0 (quilt)\n']) {
      expect(errorOf(() => sourceFormat(text)).message).toMatch(
        /^debian\/source\/format has nothing on its first line/,
      );
    }
  });
});
