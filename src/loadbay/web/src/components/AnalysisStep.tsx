import { useApp } from '../context'
import { formatNumber } from '../lib/i18n'
import type { ImportResource, Preview } from '../lib/types'

function delimiterName(t: ReturnType<typeof useApp>['t'], delimiter: string | null): string {
  if (delimiter === null) return t('common.none')
  if (delimiter === '\t') return t('analysis.tab')
  if (delimiter === ',') return t('analysis.comma', { d: ',' })
  if (delimiter === ';') return t('analysis.semicolon', { d: ';' })
  if (delimiter === '|') return t('analysis.pipe', { d: '|' })
  return `“${delimiter}”`
}

export function AnalysisStep({ view, preview }: { view: ImportResource; preview: Preview | null }) {
  const { t, locale } = useApp()
  const analysis = view.analysis
  if (!analysis) {
    return <p aria-busy="true">{t('analysis.running')}</p>
  }
  const estimate = view.progress_detail?.rows_estimate ?? null
  return (
    <div>
      <dl class="facts" data-testid="analysis">
        <dt>{t('analysis.format')}</dt>
        <dd data-testid="analysis-format">
          {analysis.format.toUpperCase()}
          {analysis.compression ? ` (${analysis.compression})` : ''}
        </dd>
        <dt>{t('analysis.encoding')}</dt>
        <dd>{analysis.encoding ?? t('common.none')}</dd>
        <dt>{t('analysis.delimiter')}</dt>
        <dd>{delimiterName(t, analysis.delimiter)}</dd>
        <dt>{t('analysis.headerRow')}</dt>
        <dd>{analysis.header_row === null ? t('common.none') : t('analysis.rowNumber', { n: analysis.header_row + 1 })}</dd>
        {analysis.sheet && (
          <>
            <dt>{t('analysis.sheet')}</dt>
            <dd>{analysis.sheet}</dd>
          </>
        )}
        <dt>{t('analysis.columns')}</dt>
        <dd>{formatNumber(locale, analysis.columns.length)}</dd>
        <dt>{t('analysis.rowEstimate')}</dt>
        <dd data-testid="row-estimate">
          {estimate === null ? t('common.unknown') : t('analysis.about', { n: formatNumber(locale, estimate) })}
        </dd>
      </dl>
      {preview && preview.rows.length > 0 && (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={t('analysis.sample')}>
          <table class="sample" data-testid="sample-table">
            <caption>{t('analysis.sampleCaption', { n: preview.rows.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('grid.row')}</th>
                {preview.columns.map((c) => (
                  <th scope="col" key={c}>
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {preview.rows.map((row) => (
                <tr key={row.row}>
                  <th scope="row">{row.row}</th>
                  {preview.columns.map((c) => (
                    <td key={c}>{row.source[c] ?? ''}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
