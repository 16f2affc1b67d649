import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { useApp } from '../context'
import { api, query } from '../lib/api'
import { followImport, isFinal, supersedes } from '../lib/events'
import { formatActor } from '../lib/format'
import { formatDateTime, formatNumber, type MessageKey } from '../lib/i18n'
import type { ErrorPage, ImportResource } from '../lib/types'

interface LoggedEvent {
  at: string
  kind: string
  state: string
  progress: number
}

export function ImportDetail({ importId }: { importId: string }) {
  const { t, locale, report } = useApp()
  const [view, setView] = useState<ImportResource | null>(null)
  const [errors, setErrors] = useState<ErrorPage | null>(null)
  const [events, setEvents] = useState<LoggedEvent[]>([])
  const [errorCursor, setErrorCursor] = useState<string | null>(null)
  // Answers and events race: the newest view of the import wins (lib/events.supersedes).
  const newest = useRef<ImportResource | null>(null)
  const show = useCallback((next: ImportResource) => {
    if (!supersedes(newest.current, next)) return
    newest.current = next
    setView(next)
  }, [])

  useEffect(() => {
    const follower = followImport(importId, {
      onEvent: (event) => {
        show(event.view)
        setEvents((list) => [
          ...list.slice(-199),
          { at: event.id || new Date().toISOString(), kind: event.kind, state: event.view.state, progress: event.view.progress },
        ])
      },
    })
    api.get<ImportResource>(`/api/imports/${importId}`).then(show).catch(report)
    return () => follower.close()
  }, [importId, report, show])

  useEffect(() => {
    api
      .get<ErrorPage>(`/api/imports/${importId}/errors${query({ limit: 50, cursor: errorCursor })}`)
      .then(setErrors)
      .catch(report)
  }, [importId, errorCursor, report])

  const cancel = async () => {
    try {
      show(await api.post<ImportResource>(`/api/imports/${importId}/cancel`))
    } catch (error) {
      report(error)
    }
  }

  if (!view) return <p aria-busy="true">{t('common.loading')}</p>
  const c = view.counts
  return (
    <div class="detail">
      <p>
        <a href="#/history">{t('detail.back')}</a>
      </p>
      <h1>{t('detail.title', { id: view.id.slice(0, 8) })}</h1>
      <section class="card" aria-labelledby="detail-summary">
        <h2 id="detail-summary">{t('detail.summary')}</h2>
        <dl class="facts">
          <dt>{t('history.state')}</dt>
          <dd data-testid="detail-state">{t(`state.${view.state}` as MessageKey)}</dd>
          <dt>{t('history.schema')}</dt>
          <dd>
            {view.schema.name} · v{view.schema.version} → {view.table}
          </dd>
          <dt>{t('history.file')}</dt>
          <dd>{view.file_name ?? t('history.inline')}</dd>
          <dt>{t('history.who')}</dt>
          <dd data-testid="detail-who">{formatActor(t, view.created_by)}</dd>
          <dt>{t('history.when')}</dt>
          <dd>{formatDateTime(locale, view.created_at)}</dd>
          <dt>{t('counts.total')}</dt>
          <dd>{formatNumber(locale, c.rows_total)}</dd>
          <dt>{t('counts.valid')}</dt>
          <dd>{formatNumber(locale, c.rows_valid)}</dd>
          <dt>{t('counts.invalid')}</dt>
          <dd>{formatNumber(locale, c.rows_invalid)}</dd>
          <dt>{t('counts.loaded')}</dt>
          <dd>{formatNumber(locale, c.rows_loaded)}</dd>
          {view.failure && (
            <>
              <dt>{t('detail.failure')}</dt>
              <dd>
                {view.failure.type}: {view.failure.detail}
              </dd>
            </>
          )}
          <dt>{t('summary.resource')}</dt>
          <dd>
            <a href={`/api/imports/${view.id}`}>{`/api/imports/${view.id}`}</a>
          </dd>
        </dl>
        <div class="actions">
          {view.source === 'upload' && !isFinal(view) && (
            <a class="button" href={`#/import/${view.id}`}>
              {t('detail.continue')}
            </a>
          )}
          {!isFinal(view) && view.source === 'upload' && (
            <button type="button" class="danger secondary" onClick={cancel} data-testid="detail-cancel">
              {t('flow.cancel')}
            </button>
          )}
        </div>
      </section>
      <section class="card" aria-labelledby="detail-errors">
        <h2 id="detail-errors">{t('detail.errors')}</h2>
        {errors && errors.items.length === 0 && <p class="meta">{t('detail.noErrors')}</p>}
        {errors && errors.items.length > 0 && (
          <>
            <p class="meta">
              {t('detail.errorCounts', {
                total: formatNumber(locale, errors.errors_total),
                stored: formatNumber(locale, errors.errors_stored),
              })}
            </p>
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('grid.row')}</th>
                    <th scope="col">{t('detail.column')}</th>
                    <th scope="col">{t('detail.value')}</th>
                    <th scope="col">{t('detail.rule')}</th>
                    <th scope="col">{t('detail.message')}</th>
                  </tr>
                </thead>
                <tbody>
                  {errors.items.map((e, i) => (
                    <tr key={i}>
                      <td>{e.row}</td>
                      <td>{e.column ?? '–'}</td>
                      <td>{e.value ?? ''}</td>
                      <td>{e.rule}</td>
                      <td>{e.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div class="actions">
              {errorCursor && (
                <button type="button" class="secondary" onClick={() => setErrorCursor(null)}>
                  {t('detail.firstErrors')}
                </button>
              )}
              {errors.next_cursor && (
                <button type="button" class="secondary" onClick={() => setErrorCursor(errors.next_cursor)}>
                  {t('history.next')}
                </button>
              )}
              <a class="button secondary" href={`/api/imports/${view.id}/errors?format=csv`} download>
                {t('detail.downloadCsv')}
              </a>
            </div>
          </>
        )}
      </section>
      <section class="card" aria-labelledby="detail-events">
        <h2 id="detail-events">{t('detail.events')}</h2>
        <ol class="events" aria-live="polite" data-testid="detail-events">
          {events.map((e, i) => (
            <li key={i}>
              <time>{formatDateTime(locale, e.at)}</time> · {e.kind === 'state' ? t('detail.eventState') : t('detail.eventProgress')} ·{' '}
              {t(`state.${e.state}` as MessageKey)} · {Math.round(e.progress * 100)}%
            </li>
          ))}
        </ol>
      </section>
    </div>
  )
}
