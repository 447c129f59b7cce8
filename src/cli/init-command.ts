import type { Config } from '../config/types.js';
import { prepareState } from '../publish/prepare-state.js';
import { stopAgent } from '../publish/signing-key.js';
import { ExitCode } from '../util/errors.js';
import { makeBaseImageAhead } from './base-image-ahead.js';

/** `pocketbuild init`: make the state layout, the keys and the base image; safe to run again. */
export async function runInit(config: Config): Promise<number> {
  const { repo, fingerprint, publicKey, builderPub } = await prepareState(config, { createKey: true });
  await stopAgent(config.state_dir);
  await makeBaseImageAhead(config, (line) => process.stdout.write(`${line}\n`));
  process.stdout.write(
    `state:       ${config.state_dir}\n` +
      `queue:       ${config.queue_dir}\n` +
      `repository:  ${repo.dir} (suites: ${Object.values(config.pockets)
        .map((p) => p.suite)
        .join(', ')})\n` +
      `signing key: ${fingerprint}\n` +
      `public key:  ${publicKey} (give this to APT clients as signed-by)\n` +
      `builder key: ${builderPub} (Ed25519; verifies provenance and audit checkpoints: pocketbuild verify --key)\n`,
  );
  return ExitCode.ok;
}
