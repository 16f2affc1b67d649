// GET /api/stats for the dashboard: the response's types, the tiles' texts and the uPlot
// arrays of the charts (docs/observability.md describes the figures).
import { formatNumber, type Locale, type Translate } from './i18n'

export const WINDOWS = ['1m', '5m', '15m'] as const
export type WindowName = (typeof WINDOWS)[number]
/** The span the charts show, in seconds (the server keeps 15 minutes). */
export const CHART_SPAN = 900

/** The request figures of a window, or of one bucket of the series. */
export interface RequestFigures {
  requests: number
  qps: number
  p50: number | null
  p90: number | null
  p99: number | null
  error_rate_4xx: number
  error_rate_5xx: number
}

export interface WindowStats extends RequestFigures {
  /** Server-wide; null when the server could not read its store (or an older server). */
  rows_imported?: number | null
  imports_completed?: number | null
}

export interface SeriesPoint extends RequestFigures {
  time: number
}

export interface StatsOut {
  scope: string
  uptime_seconds: number
  /** Unix seconds when the figures were taken (absent from older servers). */
  time?: number
  windows: Partial<Record<WindowName, WindowStats>>
  series?: { step_seconds: number; points: SeriesPoint[] }
}

/** "0.42 ms", "12.3 ms", "250 ms", "1,204 ms"; "–" when there were no requests. */
export function formatMs(locale: Locale, t: Translate, ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  const digits = ms < 1 ? 2 : ms < 100 ? 1 : 0
  return t('unit.ms', { n: formatNumber(locale, ms, digits) })
}

/** A share (0–1) as a percentage: "0 %", "1.25 %", "100 %" (as the locale writes them). */
export function formatShare(locale: Locale, share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '–'
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 2 }).format(share)
}

/** Requests per second: two decimals below 10, one below 1000, none above. */
export function formatQps(locale: Locale, qps: number | null | undefined): string {
  if (qps === null || qps === undefined || !Number.isFinite(qps)) return '–'
  return formatNumber(locale, qps, qps < 10 ? 2 : qps < 1000 ? 1 : 0)
}

/** Rows imported, or "–" when the server could not say. */
export function formatCount(locale: Locale, count: number | null | undefined): string {
  if (count === null || count === undefined || !Number.isFinite(count)) return '–'
  return formatNumber(locale, count)
}

/** Hours and minutes (and seconds) of a Unix time, in the page's locale and the browser's zone. */
export function formatClock(locale: Locale, unixSeconds: number, withSeconds = false): string {
  return new Intl.DateTimeFormat(locale, {
    hour: '2-digit',
    minute: '2-digit',
    ...(withSeconds ? { second: '2-digit' } : {}),
    hour12: false,
  }).format(new Date(unixSeconds * 1000))
}

/** No request finished in the last 15 minutes: the dashboard says so instead of zeros. */
export function hasTraffic(stats: StatsOut | null): boolean {
  return (stats?.windows['15m']?.requests ?? 0) > 0
}

export type Column = (number | null)[]
/** uPlot's data: the x values (Unix seconds) first, then one array per series. */
export type ChartData = [number[], ...Column[]]

export interface Charts {
  /** p50, p90, p99 in ms; null where a bucket had no requests (uPlot draws a gap). */
  latency: ChartData
  qps: ChartData
  /** 4xx and 5xx shares in percent; null where a bucket had no requests. */
  errors: ChartData
  /** The x range every chart shows: the last 15 minutes up to the figures' time. */
  range: [number, number]
  points: number
}

const percent = (share: number) => Math.round(share * 10000) / 100

/** The series of the response as uPlot arrays, oldest first. */
export function chartData(stats: StatsOut | null, nowSeconds: number): Charts {
  const points = [...(stats?.series?.points ?? [])].sort((a, b) => a.time - b.time)
  const xs = points.map((p) => p.time)
  const end = stats?.time ?? nowSeconds
  const quiet = (p: SeriesPoint) => p.requests === 0
  return {
    latency: [
      xs,
      points.map((p) => (quiet(p) ? null : p.p50)),
      points.map((p) => (quiet(p) ? null : p.p90)),
      points.map((p) => (quiet(p) ? null : p.p99)),
    ],
    qps: [xs, points.map((p) => p.qps)],
    errors: [
      xs,
      points.map((p) => (quiet(p) ? null : percent(p.error_rate_4xx))),
      points.map((p) => (quiet(p) ? null : percent(p.error_rate_5xx))),
    ],
    range: [end - CHART_SPAN, end],
    points: points.length,
  }
}

/** The tiles' texts for one window. */
export interface TileValues {
  p50: string
  p90: string
  p99: string
  qps: string
  errors4xx: string
  errors5xx: string
  rows: string
  imports: number | null
  requests: string
}

export function tileValues(locale: Locale, t: Translate, window: WindowStats | undefined): TileValues {
  return {
    p50: formatMs(locale, t, window?.p50),
    p90: formatMs(locale, t, window?.p90),
    p99: formatMs(locale, t, window?.p99),
    qps: formatQps(locale, window?.qps),
    errors4xx: formatShare(locale, window?.error_rate_4xx),
    errors5xx: formatShare(locale, window?.error_rate_5xx),
    rows: formatCount(locale, window?.rows_imported),
    imports: window?.imports_completed ?? null,
    requests: formatCount(locale, window?.requests),
  }
}
