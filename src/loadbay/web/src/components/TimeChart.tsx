import uPlot from 'uplot'
import { useEffect, useRef } from 'preact/hooks'
import { useApp } from '../context'
import { formatClock, type ChartData } from '../lib/dashboard'

export interface Line {
  label: string
  stroke: string
  fill?: string
}

const HEIGHT = 200

/** A uPlot time series over a fixed x range (Unix seconds); gaps where a value is null. */
export function TimeChart({
  label,
  data,
  range,
  lines,
  format,
  testId,
}: {
  label: string
  data: ChartData
  range: [number, number]
  lines: Line[]
  format: (value: number) => string
  testId: string
}) {
  const { t, locale } = useApp()
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  // the scale reads the latest range and formatter at each redraw
  const latest = useRef({ range, format })
  latest.current = { range, format }

  useEffect(() => {
    const el = box.current
    if (!el) return
    const dash = (v: number | null | undefined, f: (x: number) => string) =>
      v === null || v === undefined ? '–' : f(v)
    plot.current = new uPlot(
      {
        width: Math.max(200, el.clientWidth || 600),
        height: HEIGHT,
        scales: {
          x: { time: true, range: () => latest.current.range },
          y: { range: (_u, _min, max) => [0, max !== null && max > 0 ? max * 1.1 : 1] },
        },
        legend: { show: true, live: true },
        cursor: { points: { show: false } },
        series: [
          { label: t('dashboard.chartTime'), value: (_u, v) => dash(v, (x) => formatClock(locale, x, true)) },
          ...lines.map((line) => ({
            label: line.label,
            stroke: line.stroke,
            width: 2,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => dash(v, (x) => latest.current.format(x)),
            ...(line.fill ? { fill: line.fill } : {}),
          })),
        ],
        axes: [
          { values: (_u, splits) => splits.map((s) => formatClock(locale, s)) },
          { size: 70, values: (_u, splits) => splits.map((s) => latest.current.format(s)) },
        ],
      },
      data.map((column) => [...column]) as uPlot.AlignedData,
      el,
    )
    const observer = new ResizeObserver(() => {
      if (plot.current && el.clientWidth) plot.current.setSize({ width: el.clientWidth, height: HEIGHT })
    })
    observer.observe(el)
    return () => {
      observer.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
    // labels and formats follow the locale: the chart is rebuilt when it changes
  }, [t, locale])

  useEffect(() => {
    plot.current?.setData(data.map((column) => [...column]) as uPlot.AlignedData)
  }, [data, range[0], range[1]])

  return <div class="chart time-chart" ref={box} role="img" aria-label={label} data-testid={testId} />
}
