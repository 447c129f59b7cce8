/**
 * The `key=value` strings of a kernel module's `.modinfo` section (what modinfo(8) prints).
 * The Debian kernel package ships no modules.dep (depmod writes it at install time), so the
 * initramfs builder reads each module's own `depends=` and `softdep=` from here instead.
 */
export function readModinfo(ko: Buffer): Map<string, string[]> {
  const bad = (why: string) => new Error(`not a 64-bit little-endian ELF kernel module: ${why}`);
  if (ko.length < 64 || ko.readUInt32BE(0) !== 0x7f454c46) throw bad('no ELF magic');
  if (ko[4] !== 2 || ko[5] !== 1) throw bad('not ELFCLASS64/ELFDATA2LSB');
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  if (shentsize < 64 || shoff + shnum * shentsize > ko.length || shstrndx >= shnum)
    throw bad('section headers out of range');
  const section = (i: number) => {
    const h = shoff + i * shentsize;
    return {
      name: ko.readUInt32LE(h),
      offset: Number(ko.readBigUInt64LE(h + 0x18)),
      size: Number(ko.readBigUInt64LE(h + 0x20)),
    };
  };
  const strtab = section(shstrndx);
  const nameAt = (off: number) => {
    const start = strtab.offset + off;
    const end = ko.indexOf(0, start);
    return ko.toString('latin1', start, end < 0 ? ko.length : end);
  };
  const info = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameAt(s.name) !== '.modinfo') continue;
    if (s.offset + s.size > ko.length) throw bad('.modinfo out of range');
    for (const entry of ko.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      const key = entry.slice(0, eq);
      info.set(key, [...(info.get(key) ?? []), entry.slice(eq + 1)]);
    }
  }
  return info;
}

/** Modules this one needs loaded first: its hard `depends=`, and with `softToo` the `pre:` part of `softdep=`. */
export function moduleDependencies(ko: Buffer, o: { softToo: boolean }): string[] {
  const info = readModinfo(ko);
  const deps = (info.get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean);
  for (const soft of o.softToo ? (info.get('softdep') ?? []) : []) {
    // "pre: a b post: c": the names after `pre:` up to the next `word:`.
    let pre = false;
    for (const word of soft.trim().split(/\s+/)) {
      if (word.endsWith(':')) pre = word === 'pre:';
      else if (pre) deps.push(word);
    }
  }
  return deps.map(canonicalModuleName);
}

/** `crc32c-intel` and `crc32c_intel` are one module to the kernel. */
export function canonicalModuleName(name: string): string {
  return name.replace(/-/g, '_');
}
