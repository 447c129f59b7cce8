import { faultPoint, isFaultPoint } from '../util/fault-point.js';
import type { StageTiming } from '../record/build-record.js';
import { stopped, type BuildEnvironment, type BuildState, type BuildStep } from './build-state.js';

/**
 * Run steps in order, timing each, and note each finished step in the audit log; stops
 * between steps when the build is cancelled.
 */
export async function runSteps(
  steps: BuildStep[],
  s: BuildState,
  env: BuildEnvironment,
  stages: StageTiming[],
  kind: 'build' | 'rebuild' = 'build',
): Promise<void> {
  for (const step of steps) {
    if (env.signal.aborted) throw stopped(env.signal.reason, `before ${step.name}`);
    const t0 = Date.now();
    s.log.write(`\n==> ${step.name} (${new Date().toISOString()})\n`);
    env.say?.(`build ${s.req.id}: ${step.name}...`);
    await step.run(s, env);
    const ms = Date.now() - t0;
    env.say?.(`build ${s.req.id}: ${step.name} done in ${(ms / 1000).toFixed(1)} s`);
    stages.push({ name: step.name, ms });
    if (step.name === 'build') stages.push(...s.substages);
    await env.audit.append({
      type: 'build.stage',
      actor: 'daemon',
      build: s.req.id,
      data: { kind, stage: step.name, ms },
    });
    const point = `after:${step.name}`;
    if (isFaultPoint(point)) faultPoint(point);
    s.log.write(`<== ${step.name}: ${(ms / 1000).toFixed(2)} s\n`);
  }
}
