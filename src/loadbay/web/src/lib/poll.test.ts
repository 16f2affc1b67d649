import { describe, expect, it } from 'vitest'
import { Poller, type Timers, type Visibility } from './poll'

class FakeTimers implements Timers {
  pending = new Map<number, { fn: () => void; ms: number }>()
  private next = 1
  set(fn: () => void, ms: number): number {
    const id = this.next++
    this.pending.set(id, { fn, ms })
    return id
  }
  clear(handle: unknown): void {
    this.pending.delete(handle as number)
  }
  get delays(): number[] {
    return [...this.pending.values()].map((p) => p.ms)
  }
  /** Runs every pending timer once. */
  fire(): void {
    const due = [...this.pending.values()]
    this.pending.clear()
    for (const p of due) p.fn()
  }
}

class FakeVisibility implements Visibility {
  isHidden = false
  listeners = new Set<() => void>()
  hidden(): boolean {
    return this.isHidden
  }
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
  set(hidden: boolean): void {
    this.isHidden = hidden
    for (const l of this.listeners) l()
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

function setup(results: (() => Promise<void>)[] = []) {
  const timers = new FakeTimers()
  const visibility = new FakeVisibility()
  const signals: AbortSignal[] = []
  const errors: [unknown, number][] = []
  let runs = 0
  const poller = new Poller({
    interval: 5000,
    maxInterval: 30000,
    timers,
    visibility,
    run(signal) {
      signals.push(signal)
      const result = results[runs] ?? (() => Promise.resolve())
      runs += 1
      return result()
    },
    onError: (error, streak) => errors.push([error, streak]),
  })
  return { poller, timers, visibility, signals, errors, runs: () => runs }
}

describe('Poller', () => {
  it('runs at once, then an interval after each answer', async () => {
    const { poller, timers, runs } = setup()
    poller.start()
    await settle()
    expect(runs()).toBe(1)
    expect(timers.delays).toEqual([5000])
    timers.fire()
    await settle()
    expect(runs()).toBe(2)
    expect(timers.delays).toEqual([5000])
    poller.stop()
  })

  it('never runs twice at once', async () => {
    let release: () => void = () => {}
    const slow = () => new Promise<void>((resolve) => (release = resolve))
    const { poller, timers, visibility, runs } = setup([slow])
    poller.start()
    visibility.set(false) // a visibility event while the first run is out
    await settle()
    expect(runs()).toBe(1)
    expect(timers.delays).toEqual([])
    release()
    await settle()
    expect(timers.delays).toEqual([5000])
    poller.stop()
  })

  it('pauses while the tab is hidden and runs again at once when it shows', async () => {
    let release: () => void = () => {}
    const slow = () => new Promise<void>((resolve) => (release = resolve))
    const { poller, timers, visibility, signals, runs } = setup([() => Promise.resolve(), slow])
    poller.start()
    await settle()
    visibility.set(true)
    expect(timers.delays).toEqual([]) // nothing scheduled while hidden
    visibility.set(false)
    await settle()
    expect(runs()).toBe(2)
    visibility.set(true) // hidden during a run: it is aborted, nothing follows it
    expect(signals[1]!.aborted).toBe(true)
    release()
    await settle()
    expect(timers.delays).toEqual([])
    visibility.set(false)
    await settle()
    expect(runs()).toBe(3)
    poller.stop()
  })

  it('slows down after failures, reports each with its streak, and recovers', async () => {
    const fail = () => Promise.reject(new Error('down'))
    const { poller, timers, errors } = setup([fail, fail, fail, fail, () => Promise.resolve()])
    poller.start()
    await settle()
    expect(timers.delays).toEqual([10000])
    timers.fire()
    await settle()
    expect(timers.delays).toEqual([20000])
    timers.fire()
    await settle()
    expect(timers.delays).toEqual([30000]) // capped
    timers.fire()
    await settle()
    timers.fire()
    await settle()
    expect(timers.delays).toEqual([5000]) // a success resets the interval
    expect(errors.map(([, streak]) => streak)).toEqual([1, 2, 3, 4])
    poller.stop()
  })

  it('stops for good: the run in flight is aborted, its error is not reported', async () => {
    const aborted = (signal: AbortSignal) =>
      new Promise<void>((_, reject) =>
        signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      )
    const timers = new FakeTimers()
    const visibility = new FakeVisibility()
    const errors: unknown[] = []
    const poller = new Poller({ interval: 5000, timers, visibility, run: aborted, onError: (e) => errors.push(e) })
    poller.start()
    poller.stop()
    await settle()
    expect(errors).toEqual([])
    expect(timers.delays).toEqual([])
    expect(visibility.listeners.size).toBe(0)
    visibility.set(false)
    await settle()
    expect(timers.delays).toEqual([])
  })

  it('waits at least what the error asks (Retry-After)', async () => {
    const timers = new FakeTimers()
    const poller = new Poller({
      interval: 5000,
      maxInterval: 30000,
      timers,
      visibility: new FakeVisibility(),
      run: () => Promise.reject(new Error('429')),
      onError: () => 120_000,
    })
    poller.start()
    await settle()
    expect(timers.delays).toEqual([120_000])
    poller.stop()
  })

  it('does not start while the tab is hidden', async () => {
    const { poller, visibility, runs } = setup()
    visibility.isHidden = true
    poller.start()
    await settle()
    expect(runs()).toBe(0)
    visibility.set(false)
    await settle()
    expect(runs()).toBe(1)
    poller.stop()
  })
})
