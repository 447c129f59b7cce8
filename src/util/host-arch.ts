/** The Debian architecture name of this machine (what the base image, the builds and the suites use). */
export function hostArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
}

/**
 * The Debian release architectures a pocket may publish: those Debian ships a cross toolchain
 * for (crossbuild-essential-ARCH) in bookworm and trixie. Only the host's is built natively.
 */
export const CROSS_ARCHITECTURES = [
  'amd64',
  'arm64',
  'armel',
  'armhf',
  'i386',
  'mips64el',
  'ppc64el',
  's390x',
] as const;
