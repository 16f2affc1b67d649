// Polling while a view is open and the tab visible: one request at a time, the next one an
// interval after the previous answered, paused while the tab is hidden (and resumed at once
// when it shows again), slowed down after failures, stopped for good by stop().

export interface Visibility {
  hidden(): boolean
  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void
}

export interface Timers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

export interface PollerOptions {
  /** Milliseconds between the end of one run and the start of the next. */
  interval: number
  /** Cap of the interval after failures (it doubles per failure in a row). */
  maxInterval?: number
  run(signal: AbortSignal): Promise<void>
  /** A failed run; `streak` counts failures in a row (1 for the first). Aborts are not
   * failures. A returned number is the least wait in ms before the next run (Retry-After). */
  onError(error: unknown, streak: number): number | void
  visibility?: Visibility
  timers?: Timers
}

export const documentVisibility: Visibility = {
  hidden: () => typeof document !== 'undefined' && document.visibilityState === 'hidden',
  subscribe(listener) {
    if (typeof document === 'undefined') return () => {}
    document.addEventListener('visibilitychange', listener)
    return () => document.removeEventListener('visibilitychange', listener)
  },
}

const browserTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError'
}

export class Poller {
  private readonly options: PollerOptions
  private readonly visibility: Visibility
  private readonly timers: Timers
  private timer: unknown = null
  private controller: AbortController | null = null
  private unsubscribe: (() => void) | null = null
  private stopped = true
  private failures = 0
  private atLeast = 0

  constructor(options: PollerOptions) {
    this.options = options
    this.visibility = options.visibility ?? documentVisibility
    this.timers = options.timers ?? browserTimers
  }

  get running(): boolean {
    return this.controller !== null
  }

  /** The delay before the next run: the interval, doubled per failure in a row, capped. */
  get delay(): number {
    const { interval, maxInterval = interval * 12 } = this.options
    return Math.max(this.atLeast, Math.min(maxInterval, interval * 2 ** Math.min(this.failures, 16)))
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.unsubscribe = this.visibility.subscribe(() => this.onVisibility())
    void this.tick()
  }

  stop(): void {
    this.stopped = true
    this.clearTimer()
    this.controller?.abort()
    this.controller = null
    this.unsubscribe?.()
    this.unsubscribe = null
  }

  private onVisibility(): void {
    if (this.stopped) return
    if (this.visibility.hidden()) {
      this.clearTimer()
      this.controller?.abort()
      this.controller = null
    } else if (this.timer === null && !this.running) {
      void this.tick()
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) this.timers.clear(this.timer)
    this.timer = null
  }

  private async tick(): Promise<void> {
    this.timer = null
    if (this.stopped || this.running || this.visibility.hidden()) return
    const controller = new AbortController()
    this.controller = controller
    try {
      await this.options.run(controller.signal)
      if (controller.signal.aborted) return
      this.failures = 0
      this.atLeast = 0
    } catch (error) {
      if (controller.signal.aborted || isAbort(error)) return
      this.failures += 1
      this.atLeast = 0
      const wait = this.options.onError(error, this.failures)
      this.atLeast = typeof wait === 'number' && Number.isFinite(wait) ? wait : 0
    } finally {
      if (this.controller === controller) this.controller = null
    }
    if (!this.stopped && !this.visibility.hidden()) {
      this.timer = this.timers.set(() => void this.tick(), this.delay)
    }
  }
}
