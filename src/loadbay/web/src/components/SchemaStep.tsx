import { useApp } from '../context'
import { fieldRules, isRequired, primaryKeyOf } from '../lib/schema'
import type { SchemaResource } from '../lib/types'

export function SchemaStep({
  schemas,
  selected,
  onSelect,
  locked,
}: {
  schemas: SchemaResource[] | null
  selected: string
  onSelect: (name: string) => void
  locked: boolean
}) {
  const { t } = useApp()
  const resource = schemas?.find((s) => s.name === selected) ?? null
  const primaryKey = resource ? primaryKeyOf(resource) : []
  return (
    <div>
      {schemas === null ? (
        <p aria-busy="true">{t('common.loading')}</p>
      ) : schemas.length === 0 ? (
        <p class="notice">{t('schema.none')}</p>
      ) : (
        <label>
          <span>{t('schema.label')}</span>
          <select
            id="schema-select"
            value={selected}
            disabled={locked}
            onChange={(e) => onSelect((e.currentTarget as HTMLSelectElement).value)}
          >
            <option value="">{t('schema.placeholder')}</option>
            {schemas.map((s) => (
              <option value={s.name} key={s.name}>
                {s.schema.title ? `${s.schema.title} (${s.name})` : s.name} · v{s.version}
              </option>
            ))}
          </select>
        </label>
      )}
      {resource && (
        <div class="schema-details" data-testid="schema-details">
          <p class="schema-description">
            {resource.schema.description ?? resource.schema.title ?? t('schema.noDescription')}
          </p>
          <p class="meta">
            {t('schema.table', { table: resource.schema['x-loadbay']?.table ?? resource.name })} ·{' '}
            {t('schema.version', { version: resource.version })} ·{' '}
            {t('schema.fieldCount', { count: resource.schema.fields.length })}
          </p>
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">{t('schema.fieldsCaption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('schema.field')}</th>
                  <th scope="col">{t('schema.type')}</th>
                  <th scope="col">{t('schema.requiredCol')}</th>
                  <th scope="col">{t('schema.rules')}</th>
                </tr>
              </thead>
              <tbody>
                {resource.schema.fields.map((field) => (
                  <tr key={field.name}>
                    <th scope="row">
                      <code>{field.name}</code>
                      {field.title && <span class="muted"> {field.title}</span>}
                      {field.description && <div class="muted small">{field.description}</div>}
                    </th>
                    <td>{field.type ?? 'string'}</td>
                    <td>{isRequired(field, primaryKey) ? t('common.yes') : t('common.no')}</td>
                    <td>
                      {fieldRules(t, field, primaryKey).join(' · ') || <span class="muted">{t('schema.noRules')}</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </div>
  )
}
