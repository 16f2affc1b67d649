import { describe, expect, it } from 'vitest'
import { supersedes } from './events'

const view = (id: string, updated_at: string) => ({ id, updated_at })

describe('supersedes', () => {
  it('takes the first view and any view of another import', () => {
    expect(supersedes(null, view('a', '2026-12-04T22:03:10Z'))).toBe(true)
    expect(supersedes(view('a', '2026-12-04T22:03:10Z'), view('b', '2026-12-04T22:00:00Z'))).toBe(true)
  })

  it('refuses an older view of the same import (a 202 after the event of completion)', () => {
    const completed = view('a', '2026-12-04T22:03:10.081229Z')
    const committing = view('a', '2026-12-04T22:03:10.041Z')
    expect(supersedes(completed, committing)).toBe(false)
    expect(supersedes(committing, completed)).toBe(true)
  })

  it('takes a view as new as the current one, whole seconds included', () => {
    expect(supersedes(view('a', '2026-12-04T22:03:10Z'), view('a', '2026-12-04T22:03:10.000Z'))).toBe(true)
    expect(supersedes(view('a', '2026-12-04T22:03:10Z'), view('a', '2026-12-04T22:03:10.5Z'))).toBe(true)
  })
})
