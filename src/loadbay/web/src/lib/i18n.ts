// Catalogues, the locale choice (stored choice, else the browser's languages) and `t`.
// Every visible string of the page comes from a catalogue; a key missing from the current
// one is recorded (window.__loadbayMissingKeys, for the browser tests) and shown as the key.
import { en, type Catalogue, type MessageKey } from '../locales/en'
import { zhCN } from '../locales/zh-CN'

export type Locale = 'en' | 'zh-CN'
export const LOCALES: readonly Locale[] = ['en', 'zh-CN']
export const CATALOGUES: Record<Locale, Catalogue> = { en, 'zh-CN': zhCN }
export const STORAGE_KEY = 'loadbay.locale'
export type Params = Record<string, string | number>
export type Translate = (key: MessageKey, params?: Params) => string

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value)
}

/** The stored choice if valid, else the first browser language we have, else English. */
export function pickLocale(stored: string | null, languages: readonly string[]): Locale {
  if (isLocale(stored)) return stored
  for (const language of languages) {
    const lower = language.toLowerCase()
    if (lower.startsWith('zh')) return 'zh-CN'
    if (lower.startsWith('en')) return 'en'
  }
  return 'en'
}

export const missingKeys = new Set<string>()

export function interpolate(template: string, params?: Params): string {
  if (!params) return template
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  )
}

export function translator(locale: Locale): Translate {
  const catalogue = CATALOGUES[locale] as Record<string, string | undefined>
  return (key, params) => {
    const template = catalogue[key]
    if (template === undefined || template === '') {
      missingKeys.add(`${locale}:${key}`)
      if (typeof window !== 'undefined') {
        ;(window as unknown as { __loadbayMissingKeys?: string[] }).__loadbayMissingKeys = [
          ...missingKeys,
        ]
      }
      return key
    }
    return interpolate(template, params)
  }
}

/** Numbers as the locale writes them (1,234,567 / 1,234,567), with at most `digits` decimals. */
export function formatNumber(locale: Locale, value: number, digits = 0): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value)
}

export function formatDateTime(locale: Locale, iso: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' }).format(date)
}

export type { MessageKey }
