// Following an import over Server-Sent Events (GET /api/imports/{id}/events): each event
// carries the whole import; the stream ends after a final state. EventSource reconnects by
// itself after a network failure (the server sends retry: 2000); the page says so meanwhile.
import { FINAL_STATES, type ImportResource } from './types'

export interface ImportEvent {
  kind: 'state' | 'progress'
  id: string
  view: ImportResource
}

export function parseEvent(kind: string, lastEventId: string, data: string): ImportEvent | null {
  if (kind !== 'state' && kind !== 'progress') return null
  try {
    const view = JSON.parse(data) as ImportResource
    if (!view || typeof view !== 'object' || typeof view.state !== 'string') return null
    return { kind, id: lastEventId, view }
  } catch {
    return null
  }
}

export function isFinal(view: Pick<ImportResource, 'state'>): boolean {
  return FINAL_STATES.includes(view.state)
}

type Versioned = Pick<ImportResource, 'id' | 'updated_at'>

/** Whether `next` may replace `current` on the page: the views of one import only move
 * forward. A request's answer can arrive after an event that is newer than it (a commit's
 * 202 "committing" after the event of its completion), and must not undo it. */
export function supersedes(current: Versioned | null, next: Versioned): boolean {
  if (current === null || current.id !== next.id) return true
  return Date.parse(next.updated_at) >= Date.parse(current.updated_at)
}

export interface Follower {
  close(): void
}

export interface FollowHandlers {
  onEvent(event: ImportEvent): void
  /** true: connection lost, retrying; false: connected again */
  onConnection?(lost: boolean): void
}

type EventSourceLike = Pick<EventSource, 'addEventListener' | 'close'> & {
  onerror: ((this: EventSource, ev: Event) => unknown) | null
  onopen: ((this: EventSource, ev: Event) => unknown) | null
}

export function followImport(
  importId: string,
  handlers: FollowHandlers,
  make: (url: string) => EventSourceLike = (url) => new EventSource(url),
): Follower {
  const source = make(`/api/imports/${encodeURIComponent(importId)}/events`)
  let closed = false
  const close = (): void => {
    closed = true
    source.close()
  }
  const listener = (kind: 'state' | 'progress') => (message: Event) => {
    const event = message as MessageEvent<string>
    const parsed = parseEvent(kind, event.lastEventId, event.data)
    if (!parsed || closed) return
    handlers.onEvent(parsed)
    if (isFinal(parsed.view)) close() // the server ends the stream; do not reconnect
  }
  source.addEventListener('state', listener('state'))
  source.addEventListener('progress', listener('progress'))
  source.onerror = () => {
    if (!closed) handlers.onConnection?.(true)
  }
  source.onopen = () => handlers.onConnection?.(false)
  return { close }
}
