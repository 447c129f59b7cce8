/** One member of an initramfs. Owners are always root: the archive is made, not copied. */
export type CpioEntry =
  | { kind: 'dir'; name: string; mode?: number }
  | { kind: 'file'; name: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'chardev'; name: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/**
 * An uncompressed "newc" cpio archive, the format the kernel unpacks as initramfs. Written
 * here rather than with cpio(1) so that device nodes (/dev/console) and root ownership need
 * no privilege and no extra host package, and the result is byte-for-byte reproducible.
 */
export function cpioArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const pad = () => {
    const n = (4 - (offset % 4)) % 4;
    if (n) push(Buffer.alloc(n));
  };
  let ino = 1;
  const member = (name: string, mode: number, data: Buffer, rdev: [number, number] = [0, 0]) => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const fields = [
      ino++,
      mode,
      0,
      0,
      (mode & 0o170000) === S_IFDIR ? 2 : 1,
      0,
      data.length,
      0,
      0,
      rdev[0],
      rdev[1],
      nameBytes.length,
      0,
    ];
    push(Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'ascii'));
    push(nameBytes);
    pad();
    push(data);
    pad();
  };
  for (const e of entries) {
    const name = e.name.replace(/^\/+/, '');
    if (!name || name.split('/').some((c) => c === '' || c === '.' || c === '..'))
      throw new Error(`cpio: bad member name ${JSON.stringify(e.name)}`);
    switch (e.kind) {
      case 'dir':
        member(name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0));
        break;
      case 'file':
        member(name, S_IFREG | (e.mode ?? 0o644), e.data);
        break;
      case 'symlink':
        member(name, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'));
        break;
      case 'chardev':
        member(name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), [e.major, e.minor]);
        break;
    }
  }
  member('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
