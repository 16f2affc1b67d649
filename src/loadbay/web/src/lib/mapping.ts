// The mapping step's rules, checked in the page before the API is asked: every required
// field needs a column, and a column may feed only one field.
import type { FieldMatch, MappingProposal } from './types'

export type Mapping = Record<string, string | null>

export function initialMapping(
  proposal: MappingProposal | null,
  current: Record<string, string> | null,
): Mapping {
  const mapping: Mapping = {}
  for (const match of proposal?.proposal ?? []) {
    mapping[match.field] = current ? (current[match.field] ?? null) : match.column
  }
  if (current) for (const [field, column] of Object.entries(current)) mapping[field] = column
  return mapping
}

export interface MappingCheck {
  missingRequired: string[]
  /** column -> the fields that use it, for columns used more than once */
  duplicates: Record<string, string[]>
  unknownColumns: string[]
  ok: boolean
}

export function checkMapping(
  fields: readonly Pick<FieldMatch, 'field' | 'required'>[],
  mapping: Mapping,
  columns: readonly string[],
): MappingCheck {
  const missingRequired = fields.filter((f) => f.required && !mapping[f.field]).map((f) => f.field)
  const users: Record<string, string[]> = {}
  for (const f of fields) {
    const column = mapping[f.field]
    if (column) (users[column] ??= []).push(f.field)
  }
  const duplicates = Object.fromEntries(Object.entries(users).filter(([, who]) => who.length > 1))
  const known = new Set(columns)
  const unknownColumns = Object.keys(users).filter((column) => !known.has(column))
  return {
    missingRequired,
    duplicates,
    unknownColumns,
    ok: !missingRequired.length && !Object.keys(duplicates).length && !unknownColumns.length,
  }
}

/** The body of PUT /api/imports/{id}/mapping: unmapped fields are left out. */
export function mappingPayload(mapping: Mapping): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [field, column] of Object.entries(mapping)) if (column) out[field] = column
  return out
}

export function sameMapping(a: Mapping, b: Record<string, string> | null): boolean {
  const left = mappingPayload(a)
  const right = b ?? {}
  const keys = new Set([...Object.keys(left), ...Object.keys(right)])
  for (const key of keys) if (left[key] !== right[key]) return false
  return true
}

export type Confidence = 'high' | 'medium' | 'low' | 'none'

export function confidenceLevel(match: Pick<FieldMatch, 'column' | 'confidence'>): Confidence {
  if (!match.column) return 'none'
  if (match.confidence >= 0.9) return 'high'
  if (match.confidence >= 0.7) return 'medium'
  return 'low'
}
