// Which step of the flow is current, from what exists so far.
import type { ImportResource, UploadResource } from './types'

export const STEPS = ['schema', 'upload', 'analysis', 'mapping', 'validation', 'fix', 'commit'] as const
export type StepName = (typeof STEPS)[number]

export function stepIndex(state: {
  schemaChosen: boolean
  upload: UploadResource | null
  view: ImportResource | null
}): number {
  const at = (name: StepName) => STEPS.indexOf(name)
  const { view } = state
  if (!view) return state.schemaChosen ? at('upload') : at('schema')
  switch (view.state) {
    case 'created':
    case 'analysing':
      return at('analysis')
    case 'awaiting_mapping':
      return at('mapping')
    case 'validating':
      return at('validation')
    case 'validated':
      return view.counts.rows_invalid > 0 ? at('fix') : at('commit')
    case 'committing':
    case 'completed':
      return at('commit')
    case 'failed':
    case 'cancelled':
    case 'reverted':
      if (view.counts.rows_loaded > 0 || view.finished_at === null) return at('commit')
      if (view.mapping) return at('validation')
      return view.analysis ? at('mapping') : at('analysis')
  }
}
