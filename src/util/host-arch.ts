/** The Debian architecture name of this machine (what the base image, the builds and the suites use). */
export function hostArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
}
