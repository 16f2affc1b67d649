import uPlot from 'uplot'
import { useEffect, useRef } from 'preact/hooks'
import { useApp } from '../context'

/** Rows per second over the seconds of a phase, drawn by uPlot. */
export function RateChart({ xs, ys, label }: { xs: number[]; ys: number[]; label: string }) {
  const { t } = useApp()
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)

  useEffect(() => {
    const el = box.current
    if (!el) return
    const width = Math.max(200, el.clientWidth || 600)
    plot.current = new uPlot(
      {
        width,
        height: 180,
        scales: { x: { time: false } },
        legend: { show: false },
        cursor: { show: true, points: { show: false } },
        series: [
          { label: t('chart.seconds') },
          { label: t('chart.rowsPerSecond'), stroke: '#1a5fb4', width: 2, fill: 'rgba(26,95,180,0.12)' },
        ],
        axes: [
          { label: t('chart.seconds'), size: 40 },
          { label: t('chart.rowsPerSecond'), size: 70 },
        ],
      },
      [[...xs], [...ys]],
      el,
    )
    const observer = new ResizeObserver(() => {
      if (plot.current && el.clientWidth) plot.current.setSize({ width: el.clientWidth, height: 180 })
    })
    observer.observe(el)
    return () => {
      observer.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
    // the axis labels follow the locale: the chart is rebuilt when it changes
  }, [t])

  useEffect(() => {
    plot.current?.setData([[...xs], [...ys]])
  }, [xs.length, xs, ys])

  return <div class="chart" ref={box} role="img" aria-label={label} data-testid="rate-chart" />
}
