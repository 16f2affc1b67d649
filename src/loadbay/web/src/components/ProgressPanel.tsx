import { useApp } from '../context'
import { formatDuration, formatRate } from '../lib/format'
import { formatNumber } from '../lib/i18n'
import type { Estimate, Phase, ProgressTracker } from '../lib/progress'
import type { ImportResource } from '../lib/types'
import { RateChart } from './RateChart'

export function ProgressPanel({
  phase,
  view,
  tracker,
  estimate,
  running,
}: {
  phase: Phase
  view: ImportResource
  tracker: ProgressTracker
  estimate: Estimate | null
  running: boolean
}) {
  const { t, locale } = useApp()
  const fraction = running ? (estimate?.fraction ?? view.progress) : 1
  const pct = Math.round(fraction * 100)
  const c = view.counts
  const rate = estimate?.rowsPerSecond ?? null
  const label = phase === 'validating' ? t('progress.validating') : t('progress.committing')
  return (
    <div class="progress-panel" data-testid={`progress-${phase}`}>
      <div
        class="bar"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-valuetext={t('progress.percent', { pct })}
      >
        <div class="bar-fill" style={{ width: `${pct}%` }} />
      </div>
      <dl class="facts compact" aria-live="polite">
        <dt>{t('progress.done')}</dt>
        <dd>{t('progress.percent', { pct })}</dd>
        <dt>{t('progress.rate')}</dt>
        <dd data-testid="rate">{formatRate(locale, t, rate)}</dd>
        <dt>{t('progress.eta')}</dt>
        <dd>{running ? formatDuration(t, estimate?.etaSeconds) : t('progress.finished')}</dd>
        {phase === 'validating' ? (
          <>
            <dt>{t('counts.valid')}</dt>
            <dd data-testid="count-valid">{formatNumber(locale, c.rows_valid)}</dd>
            <dt>{t('counts.invalid')}</dt>
            <dd data-testid="count-invalid">{formatNumber(locale, c.rows_invalid)}</dd>
          </>
        ) : (
          <>
            <dt>{t('counts.loaded')}</dt>
            <dd data-testid="count-loaded">{formatNumber(locale, c.rows_loaded)}</dd>
          </>
        )}
      </dl>
      <RateChart
        xs={tracker.xs}
        ys={tracker.ys}
        label={t('chart.label', { phase: label, rate: formatRate(locale, t, rate) })}
      />
    </div>
  )
}
