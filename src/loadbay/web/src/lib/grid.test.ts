import { describe, expect, it } from 'vitest'
import { applyEdit, cellMessage, filterChoices, matchesFilter, toGridRow } from './grid'
import { parseEvent, followImport } from './events'
import { parseRoute, routeHash } from './route'
import { formatActor, formatBytes, formatDuration } from './format'
import { translator } from './i18n'
import { stepIndex } from './steps'
import type { ImportResource } from './types'

const row = toGridRow({
  row: 5,
  values: { id: '5', age: '130', country: 'XX' },
  errors: [
    { row: 5, column: 'age', value: '130', rule: 'maximum', message: 'must be at most 120' },
    { row: 5, column: 'country', value: 'XX', rule: 'enum', message: 'not allowed' },
  ],
})

describe('grid rows', () => {
  it('groups errors by field and filters by column and rule', () => {
    expect(cellMessage(row, 'age')).toBe('maximum: must be at most 120')
    expect(cellMessage(row, 'id')).toBeNull()
    expect(matchesFilter(row, { column: 'age', rule: '' })).toBe(true)
    expect(matchesFilter(row, { column: 'id', rule: '' })).toBe(false)
    expect(matchesFilter(row, { column: '', rule: 'enum' })).toBe(true)
    expect(matchesFilter(row, { column: 'age', rule: 'enum' })).toBe(false)
    expect(filterChoices([row])).toEqual({ columns: ['age', 'country'], rules: ['enum', 'maximum'] })
  })
  it('takes the errors the server judged after an edit', () => {
    const still = applyEdit(row, 'age', '50', [row.errors.country![0]!])
    expect(still.values.age).toBe('50')
    expect(still.fixed).toBe(false)
    expect(still.errors.age).toBeUndefined()
    const fixed = applyEdit(still, 'country', 'FR', [])
    expect(fixed.fixed).toBe(true)
  })
})

describe('events', () => {
  it('parses state and progress events, ignores others', () => {
    const e = parseEvent('progress', 'x', JSON.stringify({ id: 'a', state: 'validating' }))
    expect(e?.view.state).toBe('validating')
    expect(parseEvent('message', '', '{}')).toBeNull()
    expect(parseEvent('state', '', 'not json')).toBeNull()
  })
  it('closes the stream itself after a final state', () => {
    const listeners: Record<string, (e: Event) => void> = {}
    let closed = false
    const fake = {
      addEventListener: (kind: string, fn: (e: Event) => void) => (listeners[kind] = fn),
      close: () => (closed = true),
      onerror: null,
      onopen: null,
    }
    const seen: string[] = []
    followImport('abc', { onEvent: (ev) => seen.push(ev.view.state) }, (url) => {
      expect(url).toBe('/api/imports/abc/events')
      return fake as never
    })
    const send = (kind: string, state: string) =>
      listeners[kind]!({ data: JSON.stringify({ state }), lastEventId: '1' } as MessageEvent)
    send('state', 'validating')
    expect(closed).toBe(false)
    send('state', 'completed')
    expect(closed).toBe(true)
    expect(seen).toEqual(['validating', 'completed'])
  })
})

describe('routes, formats and steps', () => {
  it('round-trips routes', () => {
    const id = '0b6f6a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'
    for (const r of [{ name: 'new' }, { name: 'history' }, { name: 'dashboard' }, { name: 'import', id }, { name: 'detail', id }] as const) {
      expect(parseRoute(routeHash(r))).toEqual(r)
    }
    expect(parseRoute('#/nonsense')).toEqual({ name: 'new' })
  })
  it('formats bytes and durations', () => {
    expect(formatBytes('en', 52428800)).toBe('50 MiB')
    const t = translator('en')
    expect(formatDuration(t, 3725)).toBe('1 h 2 min')
    expect(formatDuration(t, 65)).toBe('1 min 5 s')
    expect(formatDuration(t, 0.44)).toBe('0.4 s')
    expect(formatDuration(t, null)).toBe('unknown')
    expect(formatDuration(translator('zh-CN'), 12)).toBe('12 秒')
  })
  it('says who started an import', () => {
    const t = translator('en')
    expect(formatActor(t, 'key:etl-nightly')).toBe('API key “etl-nightly”')
    expect(formatActor(t, 'admin')).toBe('admin (password)')
    expect(formatActor(t, 'local')).toBe('local server (no sign-in)')
    expect(formatActor(t, 'cli')).toBe('command line (loadbay import)')
    expect(formatActor(t, null)).toBe('not recorded')
    expect(formatActor(translator('zh-CN'), 'key:etl')).toBe('API 密钥“etl”')
  })
  it('finds the current step', () => {
    const view = (state: string, invalid = 0) =>
      ({ state, counts: { rows_invalid: invalid, rows_loaded: 0 }, mapping: null, analysis: null, finished_at: null }) as unknown as ImportResource
    expect(stepIndex({ schemaChosen: false, upload: null, view: null })).toBe(0)
    expect(stepIndex({ schemaChosen: true, upload: null, view: null })).toBe(1)
    expect(stepIndex({ schemaChosen: true, upload: null, view: view('awaiting_mapping') })).toBe(3)
    expect(stepIndex({ schemaChosen: true, upload: null, view: view('validated', 2) })).toBe(5)
    expect(stepIndex({ schemaChosen: true, upload: null, view: view('validated') })).toBe(6)
  })
})
