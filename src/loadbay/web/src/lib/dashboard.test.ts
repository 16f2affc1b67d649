import { describe, expect, it } from 'vitest'
import { translator } from './i18n'
import {
  chartData,
  formatClock,
  formatCount,
  formatMs,
  formatQps,
  formatShare,
  hasTraffic,
  tileValues,
  type SeriesPoint,
  type StatsOut,
} from './dashboard'

const en = translator('en')
const zh = translator('zh-CN')

function point(time: number, overrides: Partial<SeriesPoint> = {}): SeriesPoint {
  return {
    time,
    requests: 10,
    qps: 1,
    p50: 10.055,
    p90: 10.055,
    p99: 99.606,
    error_rate_4xx: 0.1,
    error_rate_5xx: 0.0125,
    ...overrides,
  }
}

const STATS: StatsOut = {
  scope: 'process',
  uptime_seconds: 35.5,
  time: 1_700_000_035.5,
  windows: {
    '1m': {
      requests: 1204,
      qps: 20.0667,
      p50: 3.1,
      p90: 8.45,
      p99: 1234.5,
      error_rate_4xx: 0.0125,
      error_rate_5xx: 0,
      rows_imported: 1234567,
      imports_completed: 3,
    },
    '5m': { requests: 0, qps: 0, p50: null, p90: null, p99: null, error_rate_4xx: 0, error_rate_5xx: 0 },
  },
  series: {
    step_seconds: 10,
    // out of order on purpose: the charts sort by time
    points: [point(1_700_000_020), point(1_700_000_000), point(1_700_000_010, { requests: 0, qps: 0, p50: null, p90: null, p99: null, error_rate_4xx: 0, error_rate_5xx: 0 })],
  },
}

describe('formatting', () => {
  it('writes milliseconds with fewer decimals as they grow', () => {
    expect(formatMs('en', en, 0.4213)).toBe('0.42 ms')
    expect(formatMs('en', en, 12.345)).toBe('12.3 ms')
    expect(formatMs('en', en, 250.4)).toBe('250 ms')
    expect(formatMs('en', en, 1234.5)).toBe('1,235 ms')
    expect(formatMs('zh-CN', zh, 12.345)).toBe('12.3 毫秒')
    expect(formatMs('en', en, null)).toBe('–')
    expect(formatMs('en', en, undefined)).toBe('–')
  })

  it('writes shares as percentages', () => {
    expect(formatShare('en', 0)).toBe('0%')
    expect(formatShare('en', 0.0125)).toBe('1.25%')
    expect(formatShare('en', 0.33333)).toBe('33.33%')
    expect(formatShare('en', 1)).toBe('100%')
    expect(formatShare('zh-CN', 0.25)).toBe('25%')
    expect(formatShare('en', null)).toBe('–')
  })

  it('writes QPS with two decimals below 10, one below 1000', () => {
    expect(formatQps('en', 0.2)).toBe('0.2')
    expect(formatQps('en', 2.345)).toBe('2.35')
    expect(formatQps('en', 20.0667)).toBe('20.1')
    expect(formatQps('en', 1234.56)).toBe('1,235')
    expect(formatQps('en', undefined)).toBe('–')
  })

  it('writes counts, or a dash when the server could not say', () => {
    expect(formatCount('en', 1234567)).toBe('1,234,567')
    expect(formatCount('en', 0)).toBe('0')
    expect(formatCount('en', null)).toBe('–')
  })

  it('writes clock times in 24 hours', () => {
    const at = new Date(2026, 4, 1, 14, 5, 9).getTime() / 1000
    expect(formatClock('en', at)).toBe('14:05')
    expect(formatClock('en', at, true)).toBe('14:05:09')
    expect(formatClock('zh-CN', at, true)).toBe('14:05:09')
  })
})

describe('tileValues', () => {
  it('formats one window', () => {
    expect(tileValues('en', en, STATS.windows['1m'])).toEqual({
      p50: '3.1 ms',
      p90: '8.5 ms',
      p99: '1,235 ms',
      qps: '20.1',
      errors4xx: '1.25%',
      errors5xx: '0%',
      rows: '1,234,567',
      imports: 3,
      requests: '1,204',
    })
  })

  it('shows dashes for a quiet window and for an older server without rows', () => {
    const values = tileValues('en', en, STATS.windows['5m'])
    expect([values.p50, values.p90, values.p99]).toEqual(['–', '–', '–'])
    expect(values.qps).toBe('0')
    expect(values.rows).toBe('–')
    expect(values.imports).toBeNull()
    expect(tileValues('en', en, undefined).qps).toBe('–')
  })
})

describe('chartData', () => {
  it('turns the series into uPlot columns, oldest first, gaps where nothing was served', () => {
    const charts = chartData(STATS, 0)
    const xs = [1_700_000_000, 1_700_000_010, 1_700_000_020]
    expect(charts.points).toBe(3)
    expect(charts.latency).toEqual([xs, [10.055, null, 10.055], [10.055, null, 10.055], [99.606, null, 99.606]])
    expect(charts.qps).toEqual([xs, [1, 0, 1]])
    expect(charts.errors).toEqual([xs, [10, null, 10], [1.25, null, 1.25]])
  })

  it('shows the last 15 minutes up to the figures time, or now for an older server', () => {
    expect(chartData(STATS, 0).range).toEqual([1_700_000_035.5 - 900, 1_700_000_035.5])
    const older: StatsOut = { scope: 'process', uptime_seconds: 1, windows: {} }
    const charts = chartData(older, 5000)
    expect(charts.range).toEqual([4100, 5000])
    expect(charts.points).toBe(0)
    expect(charts.latency).toEqual([[], [], [], []])
    expect(chartData(null, 5000).qps).toEqual([[], []])
  })
})

describe('hasTraffic', () => {
  it('is true once a request finished in the last 15 minutes', () => {
    expect(hasTraffic(null)).toBe(false)
    expect(hasTraffic(STATS)).toBe(false) // no 15m window in this response
    const busy: StatsOut = { ...STATS, windows: { '15m': { ...STATS.windows['1m']!, requests: 1 } } }
    expect(hasTraffic(busy)).toBe(true)
  })
})
