import { useEffect, useState } from 'preact/hooks'
import { useApp } from '../context'
import { api } from '../lib/api'
import { formatNumber, type MessageKey } from '../lib/i18n'
import {
  checkMapping,
  confidenceLevel,
  initialMapping,
  mappingPayload,
  sameMapping,
  type Mapping,
} from '../lib/mapping'
import type { ImportResource } from '../lib/types'

export function MappingStep({ view, onChanged }: { view: ImportResource; onChanged: (v: ImportResource) => void }) {
  const { t, locale, report } = useApp()
  const proposal = view.mapping_proposal
  const columns = view.analysis?.columns ?? []
  const [mapping, setMapping] = useState<Mapping>(() => initialMapping(proposal, view.mapping))
  const [remember, setRemember] = useState(true)
  const [busy, setBusy] = useState(false)
  const [tried, setTried] = useState(false)

  useEffect(() => {
    setMapping(initialMapping(view.mapping_proposal, view.mapping))
    // a new proposal or a mapping confirmed elsewhere resets the pickers
  }, [view.mapping_proposal, view.mapping])

  if (!proposal) return <p aria-busy="true">{t('analysis.running')}</p>
  const check = checkMapping(proposal.proposal, mapping, columns)
  const editable = view.state === 'awaiting_mapping' || view.state === 'validated'
  const changed = !sameMapping(mapping, view.mapping)
  const canSubmit = editable && check.ok && (view.state === 'awaiting_mapping' || changed)

  const submit = async () => {
    setTried(true)
    if (!check.ok) {
      document.getElementById('mapping-blocker')?.focus()
      return
    }
    setBusy(true)
    try {
      const updated = await api.put<ImportResource>(`/api/imports/${view.id}/mapping`, {
        mapping: mappingPayload(mapping),
        remember,
      })
      onChanged(updated)
    } catch (error) {
      report(error)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div>
      {proposal.from_memory && <p class="notice">{t('mapping.fromMemory')}</p>}
      {view.state !== 'awaiting_mapping' && view.mapping && (
        <p class="meta" data-testid="mapping-in-use">
          {t('mapping.inUse')}
        </p>
      )}
      <div class="table-wrap">
        <table class="mapping" data-testid="mapping-table">
          <caption class="visually-hidden">{t('mapping.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('mapping.field')}</th>
              <th scope="col">{t('mapping.column')}</th>
              <th scope="col">{t('mapping.confidence')}</th>
            </tr>
          </thead>
          <tbody>
            {proposal.proposal.map((match) => {
              const chosen = mapping[match.field] ?? ''
              const proposed = chosen === (match.column ?? '')
              const level = proposed ? confidenceLevel(match) : chosen ? 'manual' : 'none'
              const missing = match.required && !chosen
              const id = `map-${match.field}`
              return (
                <tr key={match.field} class={missing ? 'missing' : undefined}>
                  <th scope="row">
                    <label for={id}>
                      <code>{match.field}</code>
                    </label>
                    {match.required && <span class="badge required">{t('mapping.required')}</span>}
                  </th>
                  <td>
                    <select
                      id={id}
                      value={chosen}
                      disabled={!editable || busy}
                      aria-invalid={missing || undefined}
                      aria-describedby={missing ? 'mapping-blocker' : undefined}
                      onChange={(e) => {
                        const value = (e.currentTarget as HTMLSelectElement).value
                        setMapping({ ...mapping, [match.field]: value || null })
                      }}
                    >
                      <option value="">{t('mapping.notMapped')}</option>
                      {columns.map((c) => (
                        <option value={c} key={c}>
                          {c}
                        </option>
                      ))}
                    </select>
                    {match.candidates.length > 1 && (
                      <div class="muted small">
                        {t('mapping.ambiguous', { columns: match.candidates.map((c) => c.column).join(', ') })}
                      </div>
                    )}
                  </td>
                  <td>
                    <span class={`badge confidence-${level}`}>
                      {level === 'manual'
                        ? t('mapping.manual')
                        : level === 'none'
                          ? t('mapping.none')
                          : t('mapping.confidenceValue', {
                              level: t(`mapping.level.${level}`),
                              pct: formatNumber(locale, match.confidence * 100),
                            })}
                    </span>
                    {proposed && match.reason && <div class="muted small">{t('mapping.reason', { reason: t(`mapping.why.${match.reason}` as MessageKey) })}</div>}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      {proposal.unmapped_columns.length > 0 && (
        <p class="meta">{t('mapping.unmappedColumns', { columns: proposal.unmapped_columns.join(', ') })}</p>
      )}
      {!check.ok && (tried || view.state === 'awaiting_mapping') && (
        <div id="mapping-blocker" class="blocker" role="status" tabIndex={-1} data-testid="mapping-blocker">
          {check.missingRequired.length > 0 && (
            <p>{t('mapping.blockMissing', { fields: check.missingRequired.join(', ') })}</p>
          )}
          {Object.entries(check.duplicates).map(([column, fields]) => (
            <p key={column}>{t('mapping.blockDuplicate', { column, fields: fields.join(', ') })}</p>
          ))}
          {check.unknownColumns.length > 0 && (
            <p>{t('mapping.blockUnknown', { columns: check.unknownColumns.join(', ') })}</p>
          )}
        </div>
      )}
      {editable && (
        <div class="actions">
          <label class="inline">
            <input
              type="checkbox"
              checked={remember}
              onChange={(e) => setRemember((e.currentTarget as HTMLInputElement).checked)}
            />
            {t('mapping.remember')}
          </label>
          <button type="button" onClick={submit} disabled={busy || (!canSubmit && check.ok)} aria-disabled={!check.ok || undefined} data-testid="confirm-mapping">
            {view.state === 'awaiting_mapping' ? t('mapping.confirm') : t('mapping.revalidate')}
          </button>
        </div>
      )}
    </div>
  )
}
