// A schema's fields and rules as the schema chooser lists them.
import type { MessageKey, Translate } from './i18n'
import type { SchemaField, SchemaResource } from './types'

const RULE_KEYS: Record<string, MessageKey> = {
  required: 'rule.required',
  unique: 'rule.unique',
  minimum: 'rule.minimum',
  maximum: 'rule.maximum',
  minLength: 'rule.minLength',
  maxLength: 'rule.maxLength',
  pattern: 'rule.pattern',
  enum: 'rule.enum',
}

function text(value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => String(v)).join(', ')
  return String(value)
}

/** One line per constraint ("at most 120", "one of: FR, DE, US"), plus key and format. */
export function fieldRules(t: Translate, field: SchemaField, primaryKey: readonly string[]): string[] {
  const rules: string[] = []
  if (primaryKey.includes(field.name)) rules.push(t('rule.primaryKey'))
  for (const [name, value] of Object.entries(field.constraints ?? {})) {
    if (value === false || value === undefined || value === null) continue
    const key = RULE_KEYS[name]
    rules.push(key ? t(key, { value: text(value) }) : `${name}: ${text(value)}`)
  }
  if (field.format && field.format !== 'default') rules.push(t('rule.format', { value: field.format }))
  const aliases = field['x-loadbay']?.aliases
  if (aliases?.length) rules.push(t('rule.aliases', { value: aliases.join(', ') }))
  return rules
}

export function isRequired(field: SchemaField, primaryKey: readonly string[]): boolean {
  return primaryKey.includes(field.name) || field.constraints?.required === true
}

export function primaryKeyOf(resource: SchemaResource): string[] {
  const key = resource.schema.primaryKey
  if (!key) return []
  return Array.isArray(key) ? key : [key]
}
