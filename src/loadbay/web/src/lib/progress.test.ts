import { describe, expect, it } from 'vitest'
import { ProgressTracker, SpeedMeter, rowsDone } from './progress'
import type { ImportResource } from './types'

const sample = (at: number, rows: number, fraction: number, rate: number | null = null, eta: number | null = null) => ({
  at,
  rows,
  fraction,
  rowsPerSecond: rate,
  etaSeconds: eta,
})

describe('ProgressTracker', () => {
  it('computes rows/s between samples and an ETA from the pace so far', () => {
    const tracker = new ProgressTracker()
    tracker.add(sample(0, 0, 0))
    const e = tracker.add(sample(2000, 1000, 0.25))
    expect(e.rowsPerSecond).toBe(500)
    expect(e.elapsedSeconds).toBe(2)
    expect(e.etaSeconds).toBeCloseTo(6)
    expect(tracker.xs).toEqual([0, 2])
    expect(tracker.ys).toEqual([0, 500])
  })
  it("prefers the server's own rate and ETA", () => {
    const tracker = new ProgressTracker()
    tracker.add(sample(0, 0, 0))
    const e = tracker.add(sample(1000, 10, 0.5, 812345, 1.2))
    expect(e.rowsPerSecond).toBe(812345)
    expect(e.etaSeconds).toBe(1.2)
  })
  it('ends at ETA 0 and never goes back in time', () => {
    const tracker = new ProgressTracker()
    tracker.add(sample(1000, 0, 0))
    const e = tracker.add(sample(500, 100, 1))
    expect(e.etaSeconds).toBe(0)
    expect(e.elapsedSeconds).toBe(0)
  })
})

describe('rowsDone', () => {
  const view = { counts: { rows_valid: 7, rows_invalid: 3, rows_loaded: 5 } } as ImportResource
  it('counts judged rows while validating and loaded rows while committing', () => {
    expect(rowsDone('validating', view)).toBe(10)
    expect(rowsDone('committing', view)).toBe(5)
  })
})

describe('SpeedMeter', () => {
  it('measures over a sliding window and restarts when bytes go back', () => {
    const meter = new SpeedMeter(1000)
    expect(meter.add(0, 0)).toBeNull()
    expect(meter.add(500, 1000)).toBe(2000)
    meter.add(1000, 2000)
    expect(meter.add(2000, 6000)).toBe(4000) // only the last second counts
    expect(meter.add(2100, 10)).toBeNull()
  })
})
