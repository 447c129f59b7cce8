import type { Config } from '../config/types.js';
import { AuditLog } from '../record/audit-log.js';
import { AptRepository } from '../publish/reprepro.js';
import { rebuild } from '../pipeline/rebuild.js';
import { ExitCode } from '../util/errors.js';
import { untilSignal } from './until-signal.js';
import { BuildFailed } from '../util/errors.js';

/** `pocketbuild rebuild ID`: progress to stderr, the comparison to stdout. */
export async function runRebuild(config: Config, id: string, json: boolean): Promise<number> {
  const repo = AptRepository.forStateDir(config.state_dir);
  const audit = new AuditLog(config.state_dir);
  // Ctrl-C stops the sandbox between steps and in the build; nothing is published either way.
  const stop = new AbortController();
  void untilSignal().then((sig) => stop.abort(new BuildFailed(`stopped by ${sig}`, 'BuildCancelled')));
  const report = await rebuild(config, id, { repo, audit, log: process.stderr, signal: stop.signal });
  if (json) {
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    for (const f of report.files) {
      const what = f.same
        ? 'identical'
        : f.original === null
          ? 'only in the rebuild'
          : f.rebuilt === null
            ? 'missing from the rebuild'
            : f.expectedToDiffer
              ? 'differs (expected: it records the build date)'
              : 'DIFFERS';
      process.stdout.write(
        `${what.padEnd(46)} ${f.file}${f.same || f.rebuilt === null ? '' : `  ${f.original ?? '-'} -> ${f.rebuilt}`}\n`,
      );
    }
    process.stdout.write(
      report.reproduced
        ? `reproduced: build ${id}'s outputs are bit-for-bit identical (rebuild in ${report.dir})\n`
        : `NOT reproduced: ${report.files.filter((f) => !f.same && !f.expectedToDiffer).length} file(s) differ; compare them with diffoscope (rebuild in ${report.dir})\n`,
    );
  }
  return report.reproduced ? ExitCode.ok : ExitCode.failure;
}
