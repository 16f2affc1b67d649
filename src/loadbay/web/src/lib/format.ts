// Sizes, durations and rates for people; unit words come from the catalogue.
import { formatNumber, type Locale, type Translate } from './i18n'

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const

export function formatBytes(locale: Locale, bytes: number): string {
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${formatNumber(locale, value, unit === 0 ? 0 : 1)} ${UNITS[unit]}`
}

/** "1 h 2 min", "3 min 5 s", "12 s", "0.4 s" (the unit words are translated). */
export function formatDuration(t: Translate, seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return t('common.unknown')
  }
  if (seconds < 10) return t('unit.seconds', { n: Math.round(seconds * 10) / 10 })
  const whole = Math.round(seconds)
  const hours = Math.floor(whole / 3600)
  const minutes = Math.floor((whole % 3600) / 60)
  const secs = whole % 60
  if (hours > 0) return `${t('unit.hours', { n: hours })} ${t('unit.minutes', { n: minutes })}`
  if (minutes > 0) return `${t('unit.minutes', { n: minutes })} ${t('unit.seconds', { n: secs })}`
  return t('unit.seconds', { n: secs })
}

export function formatRate(locale: Locale, t: Translate, rowsPerSecond: number | null): string {
  if (rowsPerSecond === null || !Number.isFinite(rowsPerSecond)) return t('common.unknown')
  return t('unit.rowsPerSecond', { n: formatNumber(locale, rowsPerSecond) })
}

export function formatSpeed(locale: Locale, bytesPerSecond: number | null): string {
  if (bytesPerSecond === null || !Number.isFinite(bytesPerSecond)) return '–'
  return `${formatBytes(locale, bytesPerSecond)}/s`
}

/** Seconds between two ISO timestamps, or null. */
export function secondsBetween(start: string | null, end: string | null): number | null {
  if (!start || !end) return null
  const a = Date.parse(start)
  const b = Date.parse(end)
  return Number.isNaN(a) || Number.isNaN(b) ? null : Math.max(0, (b - a) / 1000)
}

/** Who started an import (the resource's `created_by`), as people read it. */
export function formatActor(t: Translate, createdBy: string | null | undefined): string {
  if (!createdBy) return t('who.unknown')
  if (createdBy.startsWith('key:')) return t('who.key', { name: createdBy.slice(4) })
  if (createdBy === 'admin') return t('who.admin')
  if (createdBy === 'local') return t('who.local')
  if (createdBy === 'cli') return t('who.cli')
  return createdBy
}
