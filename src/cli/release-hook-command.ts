import { signRelease } from '../publish/release-hook.js';
import { ExitCode, UsageError } from '../util/errors.js';

const USAGE = 'usage: pocketbuild release-hook --key FINGERPRINT RELEASE INRELEASE RELEASE.GPG (run by reprepro)';

/** `pocketbuild release-hook`: reprepro's SignWith hook (conf/pocketbuild-sign-release runs it). */
export async function runReleaseHook(key: string | undefined, files: string[]): Promise<number> {
  if (!key || files.length !== 3) throw new UsageError(USAGE);
  const [release, inRelease, releaseGpg] = files as [string, string, string];
  await signRelease({ release, inRelease, releaseGpg, fingerprint: key });
  return ExitCode.ok;
}
