import { useEffect, useState } from 'preact/hooks'
import { useApp } from '../context'
import { api, query } from '../lib/api'
import { formatActor } from '../lib/format'
import { formatDateTime, formatNumber, type MessageKey } from '../lib/i18n'
import { IMPORT_STATES, type ImportPage, type SchemaResource } from '../lib/types'

const LIMIT = 20

export function History() {
  const { t, locale, report } = useApp()
  const [state, setState] = useState('')
  const [schema, setSchema] = useState('')
  const [schemas, setSchemas] = useState<SchemaResource[]>([])
  // cursors[i] is the cursor of page i (null: the first page)
  const [cursors, setCursors] = useState<(string | null)[]>([null])
  const [page, setPage] = useState<ImportPage | null>(null)
  const [loading, setLoading] = useState(false)
  const cursor = cursors[cursors.length - 1] ?? null

  useEffect(() => {
    api
      .get<{ items: SchemaResource[] }>('/api/schemas')
      .then((list) => setSchemas(list.items))
      .catch(report)
  }, [report])

  useEffect(() => {
    setLoading(true)
    api
      .get<ImportPage>(`/api/imports${query({ state, schema, limit: LIMIT, cursor })}`)
      .then(setPage)
      .catch(report)
      .finally(() => setLoading(false))
  }, [state, schema, cursor, report])

  const resetTo = (fn: () => void) => {
    fn()
    setCursors([null])
  }

  return (
    <div class="history">
      <h1>{t('history.title')}</h1>
      <div class="filters card">
        <label>
          <span>{t('history.filterState')}</span>
          <select
            value={state}
            data-testid="history-state"
            onChange={(e) => resetTo(() => setState((e.currentTarget as HTMLSelectElement).value))}
          >
            <option value="">{t('history.any')}</option>
            {IMPORT_STATES.map((s) => (
              <option key={s} value={s}>
                {t(`state.${s}` as MessageKey)}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>{t('history.filterSchema')}</span>
          <select value={schema} onChange={(e) => resetTo(() => setSchema((e.currentTarget as HTMLSelectElement).value))}>
            <option value="">{t('history.any')}</option>
            {schemas.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="table-wrap card" aria-busy={loading || undefined}>
        <table data-testid="history-table">
          <caption class="visually-hidden">{t('history.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('history.when')}</th>
              <th scope="col">{t('history.state')}</th>
              <th scope="col">{t('history.schema')}</th>
              <th scope="col">{t('history.file')}</th>
              <th scope="col">{t('history.who')}</th>
              <th scope="col">{t('history.counts')}</th>
              <th scope="col">
                <span class="visually-hidden">{t('history.open')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {page?.items.map((item) => (
              <tr key={item.id}>
                <td>{formatDateTime(locale, item.created_at)}</td>
                <td>
                  <span class={`badge state-${item.state}`}>{t(`state.${item.state}` as MessageKey)}</span>
                </td>
                <td>
                  {item.schema.name} · v{item.schema.version}
                </td>
                <td>{item.file_name ?? t(item.source === 'records' ? 'history.inline' : 'common.none')}</td>
                <td data-testid="history-who">{formatActor(t, item.created_by)}</td>
                <td>
                  {t('history.countsValue', {
                    total: formatNumber(locale, item.counts.rows_total),
                    valid: formatNumber(locale, item.counts.rows_valid),
                    invalid: formatNumber(locale, item.counts.rows_invalid),
                    loaded: formatNumber(locale, item.counts.rows_loaded),
                  })}
                </td>
                <td>
                  <a href={`#/history/${item.id}`}>{t('history.openOne', { id: item.id.slice(0, 8) })}</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && page.items.length === 0 && <p class="meta">{t('history.empty')}</p>}
      </div>
      <div class="actions">
        <button type="button" class="secondary" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          {t('history.previous')}
        </button>
        <span class="meta">{t('history.page', { n: cursors.length })}</span>
        <button
          type="button"
          class="secondary"
          disabled={!page?.next_cursor}
          onClick={() => page?.next_cursor && setCursors([...cursors, page.next_cursor])}
        >
          {t('history.next')}
        </button>
      </div>
    </div>
  )
}
