// Live progress from the import's events: rows/s, ETA and the series the chart draws.
import type { ImportResource } from './types'

export type Phase = 'validating' | 'committing'

export interface Sample {
  /** milliseconds (performance.now() or Date.now()) */
  at: number
  /** rows handled so far in this phase */
  rows: number
  /** 0–1 of the phase */
  fraction: number
  /** what the server measured, when it says */
  rowsPerSecond: number | null
  etaSeconds: number | null
}

/** Rows handled so far: counted rows while validating, loaded rows while committing. */
export function rowsDone(phase: Phase, view: ImportResource): number {
  if (phase === 'committing') return view.counts.rows_loaded
  return view.counts.rows_valid + view.counts.rows_invalid
}

export function sampleOf(phase: Phase, view: ImportResource, at: number): Sample {
  const detail = view.progress_detail
  return {
    at,
    rows: rowsDone(phase, view),
    fraction: detail?.fraction ?? view.progress,
    rowsPerSecond: detail?.rows_per_second ?? null,
    etaSeconds: detail?.eta_seconds ?? null,
  }
}

export interface Estimate {
  elapsedSeconds: number
  rowsPerSecond: number | null
  etaSeconds: number | null
  fraction: number
}

/**
 * Follows one phase. The server's own rate and ETA win when it sends them; otherwise the
 * rate is the rows between the last two samples over their time, and the ETA is the rest of
 * the phase at the average pace so far (fraction-based, so it works before counts arrive).
 */
export class ProgressTracker {
  readonly samples: Sample[] = []
  readonly xs: number[] = []
  readonly ys: number[] = []

  add(sample: Sample): Estimate {
    const previous = this.samples[this.samples.length - 1]
    if (previous && sample.at < previous.at) sample = { ...sample, at: previous.at }
    this.samples.push(sample)
    const estimate = this.estimate()
    this.xs.push(estimate.elapsedSeconds)
    this.ys.push(estimate.rowsPerSecond ?? 0)
    return estimate
  }

  estimate(): Estimate {
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    if (!first || !last) return { elapsedSeconds: 0, rowsPerSecond: null, etaSeconds: null, fraction: 0 }
    const elapsedSeconds = (last.at - first.at) / 1000
    const fraction = Math.min(1, Math.max(0, last.fraction))
    let rate = last.rowsPerSecond
    if (rate === null && this.samples.length >= 2) {
      const before = this.samples[this.samples.length - 2]!
      const seconds = (last.at - before.at) / 1000
      if (seconds > 0) rate = Math.max(0, (last.rows - before.rows) / seconds)
    }
    let eta = last.etaSeconds
    if (eta === null && fraction > 0 && fraction < 1 && elapsedSeconds > 0) {
      eta = (elapsedSeconds * (1 - fraction)) / fraction
    }
    if (fraction >= 1) eta = 0
    return { elapsedSeconds, rowsPerSecond: rate, etaSeconds: eta, fraction }
  }
}

/** Upload speed over a sliding window of (time, bytes) points. */
export class SpeedMeter {
  private points: { at: number; bytes: number }[] = []
  constructor(private readonly windowMs = 3000) {}

  add(at: number, bytes: number): number | null {
    const last = this.points[this.points.length - 1]
    if (last && bytes < last.bytes) this.points = [] // a new upload, or a restart
    this.points.push({ at, bytes })
    while (this.points.length > 2 && at - this.points[0]!.at > this.windowMs) this.points.shift()
    return this.speed()
  }

  speed(): number | null {
    const first = this.points[0]
    const last = this.points[this.points.length - 1]
    if (!first || !last || last.at <= first.at) return null
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at)
  }

  reset(): void {
    this.points = []
  }
}
