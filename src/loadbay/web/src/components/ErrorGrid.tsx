// The error grid. AG Grid Community, because it is a framework-free grid (createGrid on a
// div, no React needed) with what this step needs built in: in-place cell editing, full
// keyboard navigation (arrows, Enter/F2 to edit, Escape), the ARIA grid pattern with
// row/column indices for screen readers, tooltips and an external filter hook.
import {
  AllCommunityModule,
  ModuleRegistry,
  createGrid,
  themeQuartz,
  type CellValueChangedEvent,
  type ColDef,
  type GridApi,
  type ICellRendererParams,
  type ITooltipParams,
} from 'ag-grid-community'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { useApp } from '../context'
import { api, query } from '../lib/api'
import {
  applyEdit,
  cellMessage,
  filterChoices,
  matchesFilter,
  ROW_LEVEL,
  toGridRow,
  type GridFilter,
  type GridRow,
} from '../lib/grid'
import { formatNumber } from '../lib/i18n'
import type { ImportResource, RowPage, RowsPatchResult } from '../lib/types'

ModuleRegistry.registerModules([AllCommunityModule])

const PAGE = 200

export function ErrorGrid({
  view,
  fields,
  onImport,
}: {
  view: ImportResource
  fields: string[]
  onImport: (v: ImportResource) => void
}) {
  const { t, locale, report } = useApp()
  const box = useRef<HTMLDivElement>(null)
  const grid = useRef<GridApi<GridRow> | null>(null)
  const [rows, setRows] = useState<GridRow[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [filter, setFilter] = useState<GridFilter>({ column: '', rule: '' })
  const [focused, setFocused] = useState<string>('')
  const [saving, setSaving] = useState<string>('')
  const filterRef = useRef(filter)
  filterRef.current = filter
  const editable = view.state === 'validated'
  const services = useRef({ t, report, onImport, editable })
  services.current = { t, report, onImport, editable }

  const load = async (cursor: string | null) => {
    setLoading(true)
    try {
      const page = await api.get<RowPage>(
        `/api/imports/${view.id}/rows${query({ limit: PAGE, cursor })}`,
      )
      const more = page.items.map(toGridRow)
      setRows((existing) => (cursor ? [...existing, ...more] : more))
      setNext(page.next_cursor)
    } catch (error) {
      report(error)
    } finally {
      setLoading(false)
    }
  }

  useEffect(() => {
    void load(null)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view.id])

  const columnDefs = useMemo<ColDef<GridRow>[]>(() => {
    const rowColumn: ColDef<GridRow> = {
      headerName: t('grid.row'),
      field: 'row',
      width: 90,
      pinned: 'left',
      editable: false,
      sortable: true,
      cellRenderer: (p: ICellRendererParams<GridRow>) => {
        const data = p.data
        if (!data) return ''
        const rowErrors = data.errors[ROW_LEVEL]
        const status = data.fixed ? ` ✓` : rowErrors?.length ? ' ⚠' : ''
        return `${data.row}${status}`
      },
      tooltipValueGetter: (p: ITooltipParams<GridRow>) =>
        p.data?.fixed ? services.current.t('grid.rowFixed') : p.data ? cellMessage(p.data, ROW_LEVEL) : null,
    }
    return [
      rowColumn,
      ...fields.map<ColDef<GridRow>>((field) => ({
        headerName: field,
        colId: field,
        valueGetter: (p) => p.data?.values[field] ?? '',
        valueSetter: (p) => {
          if (!p.data) return false
          p.data.values[field] = p.newValue === '' ? null : String(p.newValue)
          return true
        },
        editable: () => services.current.editable,
        minWidth: 120,
        flex: 1,
        tooltipValueGetter: (p: ITooltipParams<GridRow>) => (p.data ? cellMessage(p.data, field) : null),
        cellClassRules: {
          'cell-invalid': (p) => Boolean(p.data?.errors[field]?.length),
          'cell-fixed': (p) => Boolean(p.data?.fixed),
        },
      })),
    ]
  }, [fields, t])

  useEffect(() => {
    if (!box.current) return
    const gridApi = createGrid<GridRow>(box.current, {
      theme: themeQuartz,
      columnDefs,
      rowData: [],
      getRowId: (p) => String(p.data.row),
      tooltipShowDelay: 150,
      singleClickEdit: false,
      stopEditingWhenCellsLoseFocus: true,
      domLayout: 'normal',
      localeText: {
        noRowsToShow: t('grid.noRows'),
        loadingOoo: t('common.loading'),
      },
      isExternalFilterPresent: () => Boolean(filterRef.current.column || filterRef.current.rule),
      doesExternalFilterPass: (node) => (node.data ? matchesFilter(node.data, filterRef.current) : true),
      onCellFocused: (event) => {
        if (event.rowIndex === null || event.rowIndex === undefined) return
        const node = gridApi.getDisplayedRowAtIndex(event.rowIndex)
        const column = typeof event.column === 'string' ? event.column : event.column?.getColId()
        if (!node?.data || !column) return
        const field = column === 'row' ? ROW_LEVEL : column
        const message = cellMessage(node.data, field)
        const { t: tr } = services.current
        setFocused(
          message
            ? tr('grid.focusedError', { row: node.data.row, field: field || tr('grid.row'), message })
            : tr('grid.focusedOk', { row: node.data.row, field: field || tr('grid.row') }),
        )
      },
      onCellValueChanged: (event: CellValueChangedEvent<GridRow>) => {
        const data = event.data
        const field = event.colDef.colId
        if (!data || !field) return
        const value = data.values[field] ?? null
        const { t: tr, report: rep, onImport: done } = services.current
        setSaving(tr('grid.saving', { row: data.row, field }))
        api
          .patch<RowsPatchResult>(`/api/imports/${view.id}/rows`, { edits: [{ row: data.row, field, value }] })
          .then((result) => {
            const updated = applyEdit(data, field, value, result.rows[String(data.row)])
            gridApi.applyTransaction({ update: [updated] })
            gridApi.refreshCells({ force: true })
            setRows((list) => list.map((r) => (r.row === updated.row ? updated : r)))
            setSaving(
              updated.fixed
                ? tr('grid.savedFixed', { row: data.row })
                : tr('grid.savedStill', { row: data.row, message: cellMessage(updated, field) ?? '' }),
            )
            done(result.import)
          })
          .catch((error: unknown) => {
            setSaving('')
            rep(error)
          })
      },
    })
    grid.current = gridApi
    return () => {
      gridApi.destroy()
      grid.current = null
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [columnDefs])

  const small = rows.length <= 12
  useEffect(() => {
    grid.current?.setGridOption('rowData', rows)
    grid.current?.setGridOption('domLayout', small ? 'autoHeight' : 'normal')
  }, [rows, columnDefs, small])

  useEffect(() => {
    grid.current?.onFilterChanged()
  }, [filter])

  const choices = filterChoices(rows)
  const shown = rows.filter((r) => matchesFilter(r, filter)).length
  const fixedCount = rows.filter((r) => r.fixed).length

  return (
    <div class="error-grid">
      <p class="meta" data-testid="grid-summary">
        {t('grid.summary', {
          invalid: formatNumber(locale, view.counts.rows_invalid),
          loaded: formatNumber(locale, rows.length),
          fixed: formatNumber(locale, fixedCount),
        })}
      </p>
      <div class="filters">
        <label>
          <span>{t('grid.filterColumn')}</span>
          <select
            value={filter.column}
            data-testid="filter-column"
            onChange={(e) => setFilter({ ...filter, column: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="">{t('grid.all')}</option>
            {choices.columns.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>{t('grid.filterRule')}</span>
          <select
            value={filter.rule}
            data-testid="filter-rule"
            onChange={(e) => setFilter({ ...filter, rule: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="">{t('grid.all')}</option>
            {choices.rules.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <span class="meta">{t('grid.shown', { n: formatNumber(locale, shown) })}</span>
        <a class="button secondary" href={`/api/imports/${view.id}/errors?format=csv`} download data-testid="download-failed">
          {t('grid.download')}
        </a>
      </div>
      <p class="hint" id="grid-help">
        {editable ? t('grid.help') : t('grid.readOnly')}
      </p>
      <div
        ref={box}
        class={small ? 'grid-box grid-small' : 'grid-box'}
        aria-describedby="grid-help"
        aria-busy={loading || undefined}
        data-testid="error-grid"
      />
      <p class="cell-message" aria-live="polite" data-testid="cell-message">
        {focused}
      </p>
      <p class="meta" role="status" data-testid="save-status">
        {saving}
      </p>
      {next && (
        <button type="button" class="secondary" onClick={() => void load(next)} disabled={loading}>
          {t('grid.loadMore')}
        </button>
      )}
    </div>
  )
}
