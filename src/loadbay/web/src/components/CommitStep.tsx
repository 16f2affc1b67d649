import { useState } from 'preact/hooks'
import { useApp } from '../context'
import { api, ApiError } from '../lib/api'
import { formatDuration, secondsBetween } from '../lib/format'
import { formatNumber } from '../lib/i18n'
import type { ImportResource } from '../lib/types'

type Mode = 'insert' | 'upsert' | 'replace'
type OnError = 'abort' | 'skip'

export function CommitStep({
  view,
  hasPrimaryKey,
  onStarted,
  commitSeconds,
}: {
  view: ImportResource
  hasPrimaryKey: boolean
  onStarted: (v: ImportResource) => void
  commitSeconds: number | null
}) {
  const { t, report } = useApp()
  const [mode, setMode] = useState<Mode>('insert')
  const [onError, setOnError] = useState<OnError>(view.counts.rows_invalid > 0 ? 'skip' : 'abort')
  const [busy, setBusy] = useState(false)
  const canCommit = view.state === 'validated'

  const commit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    try {
      onStarted(await api.post<ImportResource>(`/api/imports/${view.id}/commit`, { mode, on_error: onError }))
    } catch (error) {
      // An all-or-nothing commit refused because rows are still invalid: say what to do.
      const refused = error instanceof ApiError && error.status === 422 && onError === 'abort'
      report(
        refused && view.counts.rows_invalid > 0
          ? new ApiError('client', 422, { ...error.problem, rows_invalid: view.counts.rows_invalid }, error.requestId)
          : error,
      )
    } finally {
      setBusy(false)
    }
  }

  if (view.state === 'completed') return <CommitSummary view={view} commitSeconds={commitSeconds} />

  return (
    <form onSubmit={commit} class="commit-form">
      <label>
        <span>{t('commit.mode')}</span>
        <select
          value={mode}
          disabled={!canCommit || busy}
          data-testid="commit-mode"
          onChange={(e) => setMode((e.currentTarget as HTMLSelectElement).value as Mode)}
        >
          <option value="insert">{t('commit.modeInsert')}</option>
          <option value="upsert" disabled={!hasPrimaryKey}>
            {hasPrimaryKey ? t('commit.modeUpsert') : t('commit.modeUpsertNoKey')}
          </option>
          <option value="replace">{t('commit.modeReplace')}</option>
        </select>
      </label>
      <fieldset disabled={!canCommit || busy}>
        <legend>{t('commit.onError')}</legend>
        <label class="inline">
          <input
            type="radio"
            name="on-error"
            value="abort"
            checked={onError === 'abort'}
            onChange={() => setOnError('abort')}
            data-testid="on-error-abort"
          />
          {t('commit.abort')}
        </label>
        <label class="inline">
          <input
            type="radio"
            name="on-error"
            value="skip"
            checked={onError === 'skip'}
            onChange={() => setOnError('skip')}
            data-testid="on-error-skip"
          />
          {t('commit.skip')}
        </label>
      </fieldset>
      {onError === 'abort' && view.counts.rows_invalid > 0 && canCommit && (
        <p class="notice">{t('commit.abortWarning', { n: view.counts.rows_invalid })}</p>
      )}
      <button type="submit" disabled={!canCommit || busy} data-testid="commit">
        {t('commit.submit')}
      </button>
    </form>
  )
}

export function CommitSummary({ view, commitSeconds }: { view: ImportResource; commitSeconds: number | null }) {
  const { t, locale } = useApp()
  const c = view.counts
  const total = secondsBetween(view.created_at, view.finished_at)
  return (
    <div class="summary" data-testid="summary" tabIndex={-1} id="commit-summary">
      <p class="success" role="status">
        {t('summary.done', { n: formatNumber(locale, c.rows_loaded), table: view.table })}
      </p>
      <dl class="facts">
        <dt>{t('counts.total')}</dt>
        <dd>{formatNumber(locale, c.rows_total)}</dd>
        <dt>{t('counts.loaded')}</dt>
        <dd data-testid="summary-loaded">{formatNumber(locale, c.rows_loaded)}</dd>
        <dt>{t('counts.skipped')}</dt>
        <dd data-testid="summary-skipped">{formatNumber(locale, Math.max(0, c.rows_total - c.rows_loaded))}</dd>
        <dt>{t('summary.mode')}</dt>
        <dd>
          {view.mode} · {view.on_error}
        </dd>
        <dt>{t('summary.commitDuration')}</dt>
        <dd>{formatDuration(t, commitSeconds)}</dd>
        <dt>{t('summary.totalDuration')}</dt>
        <dd>{formatDuration(t, total)}</dd>
        <dt>{t('summary.resource')}</dt>
        <dd>
          <a href={view.links.self ?? `/api/imports/${view.id}`} data-testid="resource-link">
            {view.links.self ?? `/api/imports/${view.id}`}
          </a>
        </dd>
      </dl>
      <a class="button" href="#/" data-testid="new-import">
        {t('summary.another')}
      </a>
    </div>
  )
}
