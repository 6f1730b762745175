import { quantileKey, type SideMetrics } from '../metrics/provider.js';
import type { StepReport } from '../release/runner.js';
import type { ReleaseRecorder, SideNumbers } from './view.js';

/** Feeds the runner's step reports to a page recorder: the phase and weight, and each check's numbers. */
export function recordStep(recorder: ReleaseRecorder, report: StepReport): void {
  const { status, at } = report;
  recorder.status(at, {
    phase: status.phase,
    weight: status.canaryWeight,
    failedChecks: status.failedChecks,
  });
  for (const action of report.actions) {
    if (action.type === 'event') {
      recorder.event(at, { type: action.kind, reason: action.reason, message: action.message });
    }
  }
  const analysis = status.lastAnalysis;
  // Only a check taken in this step: lastAnalysis stays in status until the next one.
  if (report.measurement === null || analysis === null || Date.parse(analysis.at) !== at) return;
  recorder.check(at, {
    weight: analysis.weight,
    result: analysis.result,
    message: analysis.summary,
    canary: sideNumbers(analysis.canary),
    primary: sideNumbers(analysis.primary),
  });
}

export function sideNumbers(side: SideMetrics | null): SideNumbers | null {
  if (side === null) return null;
  return {
    requests: side.requests,
    successRate: side.successRate,
    meanLatencyMs: side.meanLatencyMs,
    p99LatencyMs: side.latencyQuantilesMs[quantileKey(0.99)] ?? null,
  };
}
