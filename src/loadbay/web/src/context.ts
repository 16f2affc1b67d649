import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Locale, Translate } from './lib/i18n'

export interface AppServices {
  locale: Locale
  t: Translate
  /** Show a failure to the person (never only in the console). */
  report(error: unknown): void
}

export const AppContext = createContext<AppServices | null>(null)

export function useApp(): AppServices {
  const services = useContext(AppContext)
  if (!services) throw new Error('AppContext is missing')
  return services
}
