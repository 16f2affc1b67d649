import type { ComponentChildren } from 'preact'
import { useEffect, useMemo, useState } from 'preact/hooks'
import { useApp } from '../context'
import { api, ApiError } from '../lib/api'
import {
  chartData,
  formatClock,
  formatMs,
  formatQps,
  hasTraffic,
  tileValues,
  WINDOWS,
  type StatsOut,
  type TileValues,
} from '../lib/dashboard'
import { formatDuration } from '../lib/format'
import { formatNumber, type MessageKey } from '../lib/i18n'
import { Poller } from '../lib/poll'
import { TimeChart } from './TimeChart'

/** Milliseconds between two reads of /api/stats while the view is open and visible. */
export const POLL_MS = 5000

type Metric = Exclude<keyof TileValues, 'imports' | 'requests'>
const TILES: { metric: Metric; label: MessageKey }[] = [
  { metric: 'p50', label: 'dashboard.p50' },
  { metric: 'p90', label: 'dashboard.p90' },
  { metric: 'p99', label: 'dashboard.p99' },
  { metric: 'qps', label: 'dashboard.qps' },
  { metric: 'errors4xx', label: 'dashboard.errors4xx' },
  { metric: 'errors5xx', label: 'dashboard.errors5xx' },
  { metric: 'rows', label: 'dashboard.rowsImported' },
]

export function Dashboard() {
  const { t, locale, report } = useApp()
  const [stats, setStats] = useState<StatsOut | null>(null)
  const [retryIn, setRetryIn] = useState<number | null>(null)

  useEffect(() => {
    const poller = new Poller({
      interval: POLL_MS,
      maxInterval: 60_000,
      run: async (signal) => {
        const out = await api.get<StatsOut>('/api/stats', { signal })
        setStats(out)
        setRetryIn(null)
      },
      onError: (error, streak) => {
        if (streak === 1) report(error) // once per failing streak, not every few seconds
        const wait = error instanceof ApiError && error.retryAfter !== null ? error.retryAfter * 1000 : 0
        setRetryIn(Math.round(Math.max(wait, poller.delay) / 1000))
        return wait
      },
    })
    poller.start()
    return () => poller.stop()
  }, [report])

  const charts = useMemo(() => chartData(stats, Date.now() / 1000), [stats])
  const windows = useMemo(
    () => WINDOWS.map((name) => ({ name, values: tileValues(locale, t, stats?.windows[name]) })),
    [stats, locale, t],
  )
  const step = stats?.series?.step_seconds ?? 10
  const taken = stats?.time ?? null

  return (
    <div class="stats-view">
      <h1>{t('dashboard.title')}</h1>
      <p class="hint">{t('dashboard.intro')}</p>
      <p class="meta small" data-testid="dashboard-status">
        {stats && taken !== null && retryIn === null && t('dashboard.updated', { time: formatClock(locale, taken, true), n: POLL_MS / 1000 })}
        {stats && retryIn !== null && (
          <span class="notice" role="status">
            {t('dashboard.stale', { time: taken !== null ? formatClock(locale, taken, true) : '–', n: retryIn })}
          </span>
        )}
        {!stats && retryIn !== null && (
          <span class="notice" role="status">
            {t('dashboard.failed', { n: retryIn })}
          </span>
        )}
        {stats && (
          <>
            {' · '}
            <span data-testid="dashboard-uptime">
              {t('dashboard.uptime', { duration: formatDuration(t, stats.uptime_seconds) })}
            </span>
          </>
        )}
      </p>
      {!stats && retryIn === null && (
        <p class="card" aria-busy="true">
          {t('common.loading')}
        </p>
      )}
      {stats && !hasTraffic(stats) && (
        <p class="card empty-state" data-testid="dashboard-empty">
          {t('dashboard.noTraffic')}
        </p>
      )}
      {stats && (
        <>
          <section class="tiles" aria-label={t('dashboard.windowsLabel')} data-testid="dashboard-tiles">
            {TILES.map(({ metric, label }) => (
              <section class="tile card" key={metric} aria-labelledby={`tile-${metric}`}>
                <h2 id={`tile-${metric}`}>{t(label)}</h2>
                <dl>
                  {windows.map(({ name, values }) => (
                    <div class={`tile-row tile-${name}`} key={name}>
                      <dt>{t(`dashboard.window.${name}`)}</dt>
                      <dd data-testid={`tile-${metric}-${name}`}>{values[metric]}</dd>
                      {metric === 'rows' && values.imports !== null && (
                        <dd class="meta small" data-testid={`tile-imports-${name}`}>
                          {t('dashboard.imports', { n: formatNumber(locale, values.imports) })}
                        </dd>
                      )}
                      {metric === 'qps' && (
                        <dd class="meta small" data-testid={`tile-requests-${name}`}>
                          {t('dashboard.requests')}: {values.requests}
                        </dd>
                      )}
                    </div>
                  ))}
                </dl>
                {metric === 'rows' && stats.windows['1m']?.rows_imported == null && (
                  <p class="meta small">{t('dashboard.rowsUnavailable')}</p>
                )}
              </section>
            ))}
          </section>
          <p class="hint small">
            {t(stats.scope === 'host' ? 'dashboard.scopeHost' : 'dashboard.scope')}
          </p>
          <div class="charts">
            <ChartCard
              title={t('dashboard.chartLatency')}
              step={step}
              points={charts.points}
              testId="chart-latency"
            >
              <TimeChart
                label={t('dashboard.chartLabel', { title: t('dashboard.chartLatency'), n: step })}
                data={charts.latency}
                range={charts.range}
                lines={[
                  { label: 'p50', stroke: '#1a5fb4' },
                  { label: 'p90', stroke: '#c26a00' },
                  { label: 'p99', stroke: '#b3261e' },
                ]}
                format={(v) => formatMs(locale, t, v)}
                testId="chart-latency-plot"
              />
            </ChartCard>
            <ChartCard title={t('dashboard.chartQps')} step={step} points={charts.points} testId="chart-qps">
              <TimeChart
                label={t('dashboard.chartLabel', { title: t('dashboard.chartQps'), n: step })}
                data={charts.qps}
                range={charts.range}
                lines={[{ label: t('dashboard.seriesQps'), stroke: '#1f7a3a', fill: 'rgba(31,122,58,0.12)' }]}
                format={(v) => formatQps(locale, v)}
                testId="chart-qps-plot"
              />
            </ChartCard>
            <ChartCard title={t('dashboard.chartErrors')} step={step} points={charts.points} testId="chart-errors">
              <TimeChart
                label={t('dashboard.chartLabel', { title: t('dashboard.chartErrors'), n: step })}
                data={charts.errors}
                range={charts.range}
                lines={[
                  { label: t('dashboard.series4xx'), stroke: '#c26a00' },
                  { label: t('dashboard.series5xx'), stroke: '#b3261e' },
                ]}
                format={(v) => `${formatNumber(locale, v, 2)}%`}
                testId="chart-errors-plot"
              />
            </ChartCard>
          </div>
        </>
      )}
    </div>
  )
}

function ChartCard({
  title,
  step,
  points,
  testId,
  children,
}: {
  title: string
  step: number
  points: number
  testId: string
  children: ComponentChildren
}) {
  const { t } = useApp()
  return (
    <section class="card chart-card" data-testid={testId}>
      <h2>{title}</h2>
      {children}
      {points < 2 && <p class="meta small collecting">{t('dashboard.collecting', { n: step })}</p>}
    </section>
  )
}
