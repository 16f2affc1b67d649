// Shapes of the loadbay HTTP API the page reads (see docs/api.md and docs/uploads.md).

export type ImportState =
  | 'created'
  | 'analysing'
  | 'awaiting_mapping'
  | 'validating'
  | 'validated'
  | 'committing'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'reverted'

export const FINAL_STATES: readonly ImportState[] = ['completed', 'failed', 'cancelled', 'reverted']
export const IMPORT_STATES: readonly ImportState[] = [
  'created',
  'analysing',
  'awaiting_mapping',
  'validating',
  'validated',
  'committing',
  'completed',
  'failed',
  'cancelled',
  'reverted',
]
/** States in which a job runs: the page follows them live and may ask to cancel. */
export const RUNNING_STATES: readonly ImportState[] = ['created', 'analysing', 'validating', 'committing']

export interface SchemaField {
  name: string
  type?: string
  format?: string
  title?: string
  description?: string
  constraints?: Record<string, unknown>
  'x-loadbay'?: { aliases?: string[] }
}

export interface SchemaDocument {
  name: string
  title?: string
  description?: string
  fields: SchemaField[]
  primaryKey?: string[]
  'x-loadbay'?: { table?: string; unknownFields?: string }
}

export interface SchemaResource {
  name: string
  version: number
  fingerprint: string
  created_at: string
  updated_at: string
  schema: SchemaDocument
  links: Record<string, string>
}

export interface UploadResource {
  id: string
  state: 'uploading' | 'complete' | 'corrupt'
  size: number | null
  offset: number
  filename: string | null
  content_type: string | null
  md5: string | null
  sha256: string | null
  problem: string | null
  duplicate_of: string | null
  links: Record<string, string>
}

export interface CellError {
  row: number
  column: string | null
  value: string | null
  rule: string
  message: string
}

export interface Candidate {
  column: string
  confidence: number
}

export interface FieldMatch {
  field: string
  required: boolean
  column: string | null
  confidence: number
  reason: string | null
  candidates: Candidate[]
}

export interface MappingProposal {
  proposal: FieldMatch[]
  unmapped_columns: string[]
  duplicate_columns: string[]
  missing_required: string[]
  from_memory: boolean
  problems: Record<string, unknown>[]
}

export interface Analysis {
  format: string
  compression: string | null
  encoding: string | null
  delimiter: string | null
  header_row: number | null
  sheet: string | null
  columns: string[]
}

export interface ProgressDetail {
  fraction: number
  rows_per_second: number | null
  eta_seconds: number | null
  bytes_total: number
  bytes_processed: number
  rows_estimate: number | null
}

export interface ImportCounts {
  rows_total: number
  rows_valid: number
  rows_invalid: number
  rows_loaded: number
  errors_total: number
  errors_stored: number
}

export interface ImportResource {
  id: string
  state: ImportState
  schema: { name: string; version: number }
  table: string
  source: string
  mode: string
  on_error: string
  counts: ImportCounts
  progress: number
  progress_detail: ProgressDetail | null
  budget_exceeded: boolean
  upload_id: string | null
  file_name: string | null
  follow_up_of: string | null
  analysis: Analysis | null
  mapping: Record<string, string> | null
  mapping_proposal: MappingProposal | null
  cancel_requested: boolean
  failure: { type: string; detail: string } | null
  first_errors: CellError[]
  created_at: string
  /** "key:<name>", "admin", "local" or "cli"; null for imports made before it was recorded */
  created_by: string | null
  updated_at: string
  finished_at: string | null
  links: Record<string, string>
}

export interface ImportPage {
  items: ImportResource[]
  next_cursor: string | null
  links: Record<string, string>
}

export interface PreviewRow {
  row: number
  source: Record<string, string | null>
  values: Record<string, string | null>
  errors: Record<string, { rule: string; message: string }[]>
  row_errors: { rule: string; message: string }[]
  valid: boolean
}

export interface Preview {
  columns: string[]
  fields: string[]
  mapping: Record<string, string>
  rows: PreviewRow[]
}

export interface StoredRow {
  row: number
  values: Record<string, string | null>
  errors: CellError[]
}

export interface RowPage {
  items: StoredRow[]
  rows_invalid: number
  next_cursor: string | null
  links: Record<string, string>
}

export interface RowsPatchResult {
  rows: Record<string, CellError[]>
  import: ImportResource
}

export interface ErrorPage {
  items: CellError[]
  errors_total: number
  errors_stored: number
  next_cursor: string | null
  links: Record<string, string>
}

export interface SessionInfo {
  scopes: string[]
  expires_at: string
  csrf_token: string
}
