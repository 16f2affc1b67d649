// The error grid's data: rows with their errors by field, the filters, and edits merged in.
import type { CellError, StoredRow } from './types'

export interface GridRow {
  row: number
  values: Record<string, string | null>
  /** field -> errors of that cell; "" holds errors about the whole row */
  errors: Record<string, CellError[]>
  fixed: boolean
}

export const ROW_LEVEL = ''

export function byField(errors: readonly CellError[]): Record<string, CellError[]> {
  const out: Record<string, CellError[]> = {}
  for (const error of errors) (out[error.column ?? ROW_LEVEL] ??= []).push(error)
  return out
}

export function toGridRow(stored: StoredRow): GridRow {
  return { row: stored.row, values: { ...stored.values }, errors: byField(stored.errors), fixed: false }
}

/** The row after an edit: the new value, and the errors the server judged it to have now. */
export function applyEdit(
  row: GridRow,
  field: string,
  value: string | null,
  errorsNow: readonly CellError[] | undefined,
): GridRow {
  const values = { ...row.values, [field]: value }
  if (errorsNow === undefined) return { ...row, values }
  return { ...row, values, errors: byField(errorsNow), fixed: errorsNow.length === 0 }
}

export interface GridFilter {
  column: string
  rule: string
}

export function matchesFilter(row: GridRow, filter: GridFilter): boolean {
  if (!filter.column && !filter.rule) return true
  const cells = filter.column ? [row.errors[filter.column] ?? []] : Object.values(row.errors)
  return cells.some((errors) => errors.some((e) => !filter.rule || e.rule === filter.rule))
}

/** The columns and rules present, for the filter pickers (sorted). */
export function filterChoices(rows: readonly GridRow[]): { columns: string[]; rules: string[] } {
  const columns = new Set<string>()
  const rules = new Set<string>()
  for (const row of rows) {
    for (const [column, errors] of Object.entries(row.errors)) {
      if (errors.length && column !== ROW_LEVEL) columns.add(column)
      for (const error of errors) rules.add(error.rule)
    }
  }
  return { columns: [...columns].sort(), rules: [...rules].sort() }
}

export function cellMessage(row: GridRow, field: string): string | null {
  const errors = row.errors[field]
  if (!errors?.length) return null
  return errors.map((e) => `${e.rule}: ${e.message}`).join('; ')
}
