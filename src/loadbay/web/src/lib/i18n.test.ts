import { describe, expect, it } from 'vitest'
import { en } from '../locales/en'
import { zhCN } from '../locales/zh-CN'
import { CATALOGUES, interpolate, missingKeys, pickLocale, translator } from './i18n'

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

describe('catalogues', () => {
  it('have identical key sets', () => {
    expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort())
  })

  it('have no empty values', () => {
    for (const [locale, catalogue] of Object.entries(CATALOGUES)) {
      for (const [key, value] of Object.entries(catalogue)) {
        expect(value.trim(), `${locale}:${key}`).not.toBe('')
      }
    }
  })

  it('use the same parameters in both languages', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(zhCN[key]), key).toEqual(placeholders(en[key]))
    }
  })

  it('translate nearly everything (identical values are names, not forgotten text)', () => {
    const same = (Object.keys(en) as (keyof typeof en)[]).filter((k) => en[k] === zhCN[k])
    expect(same.sort()).toEqual(['app.title', 'language.en', 'language.zhCN'])
  })
})

describe('pickLocale', () => {
  it('keeps a stored choice', () => {
    expect(pickLocale('zh-CN', ['en-US'])).toBe('zh-CN')
    expect(pickLocale('en', ['zh-CN'])).toBe('en')
  })
  it('follows the browser languages otherwise', () => {
    expect(pickLocale(null, ['zh-Hans-CN', 'en'])).toBe('zh-CN')
    expect(pickLocale(null, ['zh-TW'])).toBe('zh-CN')
    expect(pickLocale(null, ['de-DE', 'en-GB'])).toBe('en')
    expect(pickLocale('fr', ['fr-FR'])).toBe('en')
    expect(pickLocale(null, [])).toBe('en')
  })
})

describe('translator', () => {
  it('fills parameters and records missing keys', () => {
    const t = translator('zh-CN')
    expect(t('history.page', { n: 3 })).toBe('第 3 页')
    expect(translator('en')('unit.rowsPerSecond', { n: '1,000' })).toBe('1,000 rows/s')
    // @ts-expect-error: not a key
    expect(t('no.such.key')).toBe('no.such.key')
    expect(missingKeys.has('zh-CN:no.such.key')).toBe(true)
  })
  it('leaves unknown placeholders alone', () => {
    expect(interpolate('{a} and {b}', { a: 1 })).toBe('1 and {b}')
  })
})
