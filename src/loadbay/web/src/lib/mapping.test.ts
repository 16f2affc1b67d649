import { describe, expect, it } from 'vitest'
import { checkMapping, confidenceLevel, initialMapping, mappingPayload, sameMapping } from './mapping'
import type { MappingProposal } from './types'

const proposal: MappingProposal = {
  proposal: [
    { field: 'id', required: true, column: 'ID', confidence: 1, reason: 'exact', candidates: [] },
    { field: 'email', required: true, column: null, confidence: 0, reason: null, candidates: [] },
    { field: 'age', required: false, column: 'Age', confidence: 0.8, reason: 'fuzzy', candidates: [] },
  ],
  unmapped_columns: ['Mail'],
  duplicate_columns: [],
  missing_required: ['email'],
  from_memory: false,
  problems: [],
}
const columns = ['ID', 'Mail', 'Age']

describe('mapping', () => {
  it('starts from the proposal, or from the mapping in use', () => {
    expect(initialMapping(proposal, null)).toEqual({ id: 'ID', email: null, age: 'Age' })
    expect(initialMapping(proposal, { id: 'ID', email: 'Mail' })).toEqual({ id: 'ID', email: 'Mail', age: null })
  })
  it('blocks on unmapped required fields, reused and unknown columns', () => {
    const fields = proposal.proposal
    expect(checkMapping(fields, initialMapping(proposal, null), columns)).toMatchObject({
      missingRequired: ['email'],
      ok: false,
    })
    const reused = checkMapping(fields, { id: 'ID', email: 'ID', age: null }, columns)
    expect(reused.duplicates).toEqual({ ID: ['id', 'email'] })
    expect(reused.ok).toBe(false)
    expect(checkMapping(fields, { id: 'ID', email: 'Nope', age: null }, columns).unknownColumns).toEqual(['Nope'])
    expect(checkMapping(fields, { id: 'ID', email: 'Mail', age: 'Age' }, columns).ok).toBe(true)
  })
  it('sends only mapped fields and compares mappings', () => {
    expect(mappingPayload({ id: 'ID', email: null })).toEqual({ id: 'ID' })
    expect(sameMapping({ id: 'ID', email: null }, { id: 'ID' })).toBe(true)
    expect(sameMapping({ id: 'ID', email: 'Mail' }, { id: 'ID' })).toBe(false)
  })
  it('grades confidence', () => {
    expect(confidenceLevel({ column: 'a', confidence: 0.95 })).toBe('high')
    expect(confidenceLevel({ column: 'a', confidence: 0.75 })).toBe('medium')
    expect(confidenceLevel({ column: 'a', confidence: 0.3 })).toBe('low')
    expect(confidenceLevel({ column: null, confidence: 0 })).toBe('none')
  })
})
