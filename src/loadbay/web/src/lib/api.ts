// The page's HTTP client: same-origin fetch, JSON in and out, problem+json (RFC 9457) turned
// into ApiError, and the session's CSRF token on unsafe requests (docs/security.md).

export interface ProblemItem {
  message: string
  path?: string
  row?: number
  column?: string | null
  value?: string | null
  rule?: string
}

export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  instance?: string
  request_id?: string
  errors?: ProblemItem[]
  [extra: string]: unknown
}

/** How a failure reads to a person: each kind gets its own message and advice. */
export type FailureKind = 'network' | 'auth' | 'client' | 'rate-limit' | 'server'

export class ApiError extends Error {
  readonly kind: FailureKind
  readonly status: number | null
  readonly problem: Problem
  readonly requestId: string | null
  readonly retryAfter: number | null

  constructor(
    kind: FailureKind,
    status: number | null,
    problem: Problem,
    requestId: string | null = null,
    retryAfter: number | null = null,
  ) {
    super(problem.detail ?? problem.title ?? `request failed (${status ?? 'network'})`)
    this.name = 'ApiError'
    this.kind = kind
    this.status = status
    this.problem = problem
    this.requestId = requestId ?? (typeof problem.request_id === 'string' ? problem.request_id : null)
    this.retryAfter = retryAfter
  }

  /** The problem's type without its /problems/ prefix ("validation-failed"). */
  get slug(): string | null {
    const type = this.problem.type
    return typeof type === 'string' ? type.replace(/^.*\/problems\//, '') : null
  }
}

export function kindOfStatus(status: number): FailureKind {
  if (status === 401) return 'auth'
  if (status === 429) return 'rate-limit'
  if (status >= 500) return 'server'
  return 'client'
}

/** The problem in a failed response's body; a body that is not a problem still yields one. */
export function parseProblem(status: number, contentType: string | null, body: string): Problem {
  const looksJson = (contentType ?? '').includes('json')
  if (looksJson && body) {
    try {
      const parsed: unknown = JSON.parse(body)
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const problem = parsed as Problem
        if (problem.status === undefined) problem.status = status
        if (!Array.isArray(problem.errors)) delete problem.errors
        return problem
      }
    } catch {
      // fall through: an unparsable body is shown as text
    }
  }
  const text = body.trim().slice(0, 500)
  return text ? { status, detail: text } : { status }
}

export function retryAfterSeconds(value: string | null): number | null {
  if (!value) return null
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds
  const date = Date.parse(value)
  return Number.isNaN(date) ? null : Math.max(0, Math.round((date - Date.now()) / 1000))
}

/** The CSRF token from the readable loadbay_csrf cookie, if the page signed in. */
export function csrfFromCookies(cookies: string): string | null {
  for (const part of cookies.split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name === 'loadbay_csrf' && rest.length) return decodeURIComponent(rest.join('='))
  }
  return null
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export interface RequestOptions {
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

export class Api {
  private readonly fetchFn: FetchLike
  private readonly cookies: () => string
  /** Called for every failure before it is thrown (the page shows sign-in on auth). */
  onFailure: ((error: ApiError) => void) | null = null
  csrfToken: string | null = null

  constructor(fetchFn?: FetchLike, cookies?: () => string) {
    this.fetchFn = fetchFn ?? ((input, init) => fetch(input, init))
    this.cookies = cookies ?? (() => (typeof document === 'undefined' ? '' : document.cookie))
  }

  /** Headers an unsafe request needs: the CSRF token, when a session gave one. */
  csrfHeaders(): Record<string, string> {
    const token = this.csrfToken ?? csrfFromCookies(this.cookies())
    return token ? { 'X-CSRF-Token': token } : {}
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers }
    if (UNSAFE.has(method)) Object.assign(headers, this.csrfHeaders())
    let body: string | undefined
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    let response: Response
    try {
      response = await this.fetchFn(path, {
        method,
        headers,
        body,
        credentials: 'same-origin',
        signal: options.signal,
      })
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause
      const error = new ApiError('network', null, {
        detail: cause instanceof Error ? cause.message : String(cause),
      })
      this.onFailure?.(error)
      throw error
    }
    const text = await response.text()
    if (!response.ok) {
      const problem = parseProblem(response.status, response.headers.get('content-type'), text)
      const error = new ApiError(
        kindOfStatus(response.status),
        response.status,
        problem,
        response.headers.get('x-request-id'),
        retryAfterSeconds(response.headers.get('retry-after')),
      )
      this.onFailure?.(error)
      throw error
    }
    if (!text) return undefined as T
    return JSON.parse(text) as T
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, options)
  }
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...options, body })
  }
  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body })
  }
  patch<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body })
  }
  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path)
  }
}

/** Query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(key, String(value))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

/** The upload id at the end of a tus upload URL (absolute or a path). */
export function uploadIdFromUrl(url: string): string | null {
  const match = /\/api\/uploads\/([0-9a-fA-F-]{32,36})\/?$/.exec(url)
  return match ? match[1]!.toLowerCase() : null
}

export const api = new Api()
