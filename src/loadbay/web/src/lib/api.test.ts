import { describe, expect, it } from 'vitest'
import { Api, ApiError, csrfFromCookies, kindOfStatus, parseProblem, query, retryAfterSeconds, uploadIdFromUrl } from './api'
import { describe as describeFailure } from './problem'
import { translator } from './i18n'

function respond(status: number, body: string, headers: Record<string, string> = {}) {
  return async () => new Response(body, { status, headers })
}

describe('parseProblem', () => {
  it('reads problem+json', () => {
    const p = parseProblem(
      422,
      'application/problem+json',
      JSON.stringify({ type: '/problems/validation-failed', title: 'Import failed', detail: 'bad', errors: [{ row: 2, column: 'age', message: 'too big' }] }),
    )
    expect(p.title).toBe('Import failed')
    expect(p.status).toBe(422)
    expect(p.errors?.[0]?.column).toBe('age')
  })
  it('keeps a body that is not a problem as its detail', () => {
    expect(parseProblem(502, 'text/html', '<h1>Bad gateway</h1>')).toEqual({ status: 502, detail: '<h1>Bad gateway</h1>' })
    expect(parseProblem(500, 'application/json', '{broken')).toEqual({ status: 500, detail: '{broken' })
    expect(parseProblem(503, null, '')).toEqual({ status: 503 })
  })
})

describe('Api', () => {
  it('sends the CSRF token on unsafe requests only', async () => {
    const seen: Record<string, string>[] = []
    const api = new Api(
      async (_url, init) => {
        seen.push(init?.headers as Record<string, string>)
        return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } })
      },
      () => 'other=1; loadbay_csrf=tok%3D1',
    )
    await api.get('/api/imports')
    await api.post('/api/imports', { a: 1 })
    expect(seen[0]?.['X-CSRF-Token']).toBeUndefined()
    expect(seen[1]?.['X-CSRF-Token']).toBe('tok=1')
    expect(seen[1]?.['Content-Type']).toBe('application/json')
  })

  it('turns each failure into its kind', async () => {
    const problem = JSON.stringify({ type: '/problems/import-not-found', title: 'Not found', detail: 'no import' })
    const cases: [() => Promise<Response>, string][] = [
      [respond(404, problem, { 'content-type': 'application/problem+json' }), 'client'],
      [respond(401, '{}', { 'content-type': 'application/problem+json' }), 'auth'],
      [respond(429, '{}', { 'content-type': 'application/problem+json', 'retry-after': '7' }), 'rate-limit'],
      [respond(500, '{"request_id": "abc"}', { 'content-type': 'application/problem+json' }), 'server'],
      [async () => Promise.reject(new TypeError('Failed to fetch')), 'network'],
    ]
    for (const [fetchFn, kind] of cases) {
      const failures: ApiError[] = []
      const api = new Api(fetchFn, () => '')
      api.onFailure = (e) => failures.push(e)
      const error = await api.get('/x').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ApiError)
      expect((error as ApiError).kind).toBe(kind)
      expect(failures).toHaveLength(1)
    }
  })

  it('exposes slug, request id and Retry-After', async () => {
    const api = new Api(
      respond(429, JSON.stringify({ type: '/problems/quota-exceeded' }), {
        'content-type': 'application/problem+json',
        'retry-after': '12',
        'x-request-id': 'r1',
      }),
      () => '',
    )
    const error = (await api.get('/x').catch((e: unknown) => e)) as ApiError
    expect(error.slug).toBe('quota-exceeded')
    expect(error.retryAfter).toBe(12)
    expect(error.requestId).toBe('r1')
  })
})

describe('describe (failures as people read them)', () => {
  const t = translator('en')
  it('gives network, 4xx and 5xx distinct headings and advice', () => {
    const network = describeFailure(t, new ApiError('network', null, {}))
    const client = describeFailure(
      t,
      new ApiError('client', 422, {
        title: 'Invalid mapping',
        detail: 'the mapping does not fit',
        errors: [{ message: 'not in the file', row: 3, column: 'age' }],
        type: '/problems/invalid-mapping',
      }),
    )
    const server = describeFailure(t, new ApiError('server', 500, { detail: 'boom' }, 'req-9'))
    expect(new Set([network.heading, client.heading, server.heading]).size).toBe(3)
    expect(new Set([network.advice, client.advice, server.advice]).size).toBe(3)
    expect(client.heading).toBe('Invalid mapping (422)')
    expect(client.items).toEqual(['row 3, column age: not in the file'])
    expect(client.advice).toBe(t('advice.invalidMapping'))
    expect(server.advice).toContain('req-9')
  })
  it('names the rows to fix when an all-or-nothing commit is refused', () => {
    const d = describeFailure(t, new ApiError('client', 422, { detail: '2 row(s) are invalid', rows_invalid: 2 }))
    expect(d.advice).toBe(t('advice.validationFailed'))
  })
  it('handles errors that are not API errors', () => {
    expect(describeFailure(t, new Error('oops')).kind).toBe('unexpected')
  })
})

describe('helpers', () => {
  it('query drops empty values', () => {
    expect(query({ state: 'failed', schema: '', limit: 20, cursor: null })).toBe('?state=failed&limit=20')
    expect(query({})).toBe('')
  })
  it('reads upload ids and cookies', () => {
    expect(uploadIdFromUrl('http://127.0.0.1:8000/api/uploads/0B6F6A2E-1C2D-4E5F-8A9B-0C1D2E3F4A5B')).toBe(
      '0b6f6a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
    )
    expect(uploadIdFromUrl('/elsewhere')).toBeNull()
    expect(csrfFromCookies('a=1')).toBeNull()
    expect(kindOfStatus(409)).toBe('client')
    expect(retryAfterSeconds('5')).toBe(5)
    expect(retryAfterSeconds(null)).toBeNull()
  })
})
