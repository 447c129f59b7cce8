import { describe, expect, it } from 'vitest';
import { requiredPackages } from '../../src/cli/start-command.js';

const pockets = (sandbox: 'userns' | 'vm') => ({ pockets: { a: { sandbox } } }) as never;

describe('the Debian packages npm start installs', () => {
  it('leaves out qemu (186 packages, 492 MB) unless a pocket builds in the VM sandbox', () => {
    const plain = requiredPackages(pockets('userns'));
    expect(plain).toContain('bubblewrap');
    expect(plain).not.toContain('qemu-system-x86');
    const vm = requiredPackages(pockets('vm'));
    expect(vm).toEqual([...plain, 'qemu-system-x86', 'e2fsprogs']);
    expect(vm.filter((p) => !/^[a-z0-9][a-z0-9+.-]+$/.test(p))).toEqual([]);
  });

  it('reads sections: lines before any [section] always, a [vm] section only for vm pockets', () => {
    const text = '# comment\nbase-a\n\n[vm]\nvm-a\n[other]\nnever\n';
    expect(requiredPackages(pockets('userns'), text)).toEqual(['base-a']);
    expect(requiredPackages(pockets('vm'), text)).toEqual(['base-a', 'vm-a']);
  });
});
