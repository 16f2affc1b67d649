// Failures as people read them: a network failure, a refusal (4xx problem details with the
// row and column they name), a rate limit, a sign-in need and a server bug each get their
// own heading and advice.
import { ApiError, type ProblemItem } from './api'
import type { Translate } from './i18n'

export interface Described {
  kind: ApiError['kind'] | 'unexpected'
  heading: string
  detail: string | null
  advice: string
  items: string[]
  requestId: string | null
}

export function describeItem(t: Translate, item: ProblemItem): string {
  const where: string[] = []
  if (item.row !== undefined && item.row !== null) where.push(t('error.item.row', { row: item.row }))
  if (item.column) where.push(t('error.item.column', { column: item.column }))
  if (item.path && !item.column) where.push(item.path)
  const place = where.join(', ')
  return place ? `${place}: ${item.message}` : item.message
}

export function describe(t: Translate, error: unknown): Described {
  if (!(error instanceof ApiError)) {
    const detail = error instanceof Error ? error.message : String(error)
    return {
      kind: 'unexpected',
      heading: t('error.unexpected.title'),
      detail,
      advice: t('error.unexpected.advice'),
      items: [],
      requestId: null,
    }
  }
  const problem = error.problem
  const items = (problem.errors ?? []).slice(0, 20).map((item) => describeItem(t, item))
  const base = { kind: error.kind, items, requestId: error.requestId }
  switch (error.kind) {
    case 'network':
      return {
        ...base,
        heading: t('error.network.title'),
        detail: null,
        advice: t('error.network.advice'),
      }
    case 'auth':
      return {
        ...base,
        heading: t('error.auth.title'),
        detail: problem.detail ?? null,
        advice: t('error.auth.advice'),
      }
    case 'rate-limit':
      return {
        ...base,
        heading: t('error.rateLimit.title'),
        detail: problem.detail ?? null,
        advice:
          error.retryAfter !== null
            ? t('error.rateLimit.adviceAfter', { seconds: error.retryAfter })
            : t('error.rateLimit.advice'),
      }
    case 'server':
      return {
        ...base,
        heading: t('error.server.title', { status: error.status ?? 500 }),
        detail: problem.detail ?? null,
        advice: error.requestId
          ? t('error.server.adviceWithId', { id: error.requestId })
          : t('error.server.advice'),
      }
    case 'client':
      return {
        ...base,
        heading: problem.title
          ? t('error.client.titleNamed', { title: problem.title, status: error.status ?? 400 })
          : t('error.client.title', { status: error.status ?? 400 }),
        detail: problem.detail ?? null,
        advice: adviceFor(t, error),
      }
  }
}

/** What to do about a refusal, for the problems the page can run into. */
function adviceFor(t: Translate, error: ApiError): string {
  if (typeof error.problem.rows_invalid === 'number') return t('advice.validationFailed')
  switch (error.slug) {
    case 'validation-failed':
      return t('advice.validationFailed')
    case 'invalid-mapping':
      return t('advice.invalidMapping')
    case 'upload-not-ready':
      return t('advice.uploadNotReady')
    case 'import-not-found':
    case 'not-found':
      return t('advice.notFound')
    case 'upsert-requires-primary-key':
      return t('advice.upsertNeedsKey')
    case 'csrf-failed':
    case 'cross-site-request':
      return t('advice.csrf')
    case 'insufficient-scope':
      return t('advice.scope')
    default:
      return error.status === 409 ? t('advice.conflict') : t('advice.client')
  }
}
