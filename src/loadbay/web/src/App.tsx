import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import { AppContext, type AppServices } from './context'
import { api, ApiError } from './lib/api'
import { LOCALES, pickLocale, STORAGE_KEY, translator, type Locale } from './lib/i18n'
import { describe, type Described } from './lib/problem'
import { parseRoute, routeHash, type Route } from './lib/route'
import { ErrorBanner } from './components/ErrorBanner'
import { ImportFlow } from './components/ImportFlow'
import { History } from './components/History'
import { ImportDetail } from './components/ImportDetail'
import { Dashboard } from './components/Dashboard'
import { SignIn } from './components/SignIn'

function storedLocale(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY)
  } catch {
    return null
  }
}

export function navigate(route: Route): void {
  const hash = routeHash(route)
  if (location.hash !== hash) location.hash = hash
}

export function App() {
  const [locale, setLocale] = useState<Locale>(() =>
    pickLocale(storedLocale(), navigator.languages?.length ? navigator.languages : [navigator.language]),
  )
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash))
  const [failures, setFailures] = useState<{ id: number; error: unknown }[]>([])
  const [needSignIn, setNeedSignIn] = useState(false)
  const [sessionVersion, setSessionVersion] = useState(0)
  const t = useMemo(() => translator(locale), [locale])

  useEffect(() => {
    document.documentElement.lang = locale
    document.title = t('app.title')
    try {
      localStorage.setItem(STORAGE_KEY, locale)
    } catch {
      // private mode: the choice lasts for this page only
    }
  }, [locale, t])

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash))
    window.addEventListener('hashchange', onHash)
    return () => window.removeEventListener('hashchange', onHash)
  }, [])

  const report = useCallback((error: unknown) => {
    if (error instanceof DOMException && error.name === 'AbortError') return
    console.error(error)
    setFailures((list) => [...list.slice(-2), { id: Date.now() + Math.random(), error }])
  }, [])

  useEffect(() => {
    api.onFailure = (error: ApiError) => {
      if (error.kind === 'auth') setNeedSignIn(true)
    }
    // Nothing fails silently: errors that escaped a handler are shown too.
    const onRejection = (event: PromiseRejectionEvent) => report(event.reason)
    const onError = (event: ErrorEvent) => report(event.error ?? event.message)
    window.addEventListener('unhandledrejection', onRejection)
    window.addEventListener('error', onError)
    return () => {
      window.removeEventListener('unhandledrejection', onRejection)
      window.removeEventListener('error', onError)
    }
  }, [report])

  const services: AppServices = useMemo(() => ({ locale, t, report }), [locale, t, report])
  const described: (Described & { id: number })[] = failures.map((f) => ({
    ...describe(t, f.error),
    id: f.id,
  }))

  return (
    <AppContext.Provider value={services}>
      <a class="skip-link" href="#main">
        {t('app.skipToContent')}
      </a>
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ⇪
          </span>
          <span class="brand-name">{t('app.title')}</span>
          <span class="tagline">{t('app.tagline')}</span>
        </div>
        <nav aria-label={t('nav.label')}>
          <a href="#/" aria-current={route.name === 'new' || route.name === 'import' ? 'page' : undefined}>
            {t('nav.newImport')}
          </a>
          <a
            href="#/history"
            aria-current={route.name === 'history' || route.name === 'detail' ? 'page' : undefined}
          >
            {t('nav.history')}
          </a>
          <a href="#/dashboard" aria-current={route.name === 'dashboard' ? 'page' : undefined}>
            {t('nav.dashboard')}
          </a>
        </nav>
        <label class="language">
          <span>{t('language.label')}</span>
          <select
            value={locale}
            onChange={(e) => setLocale((e.currentTarget as HTMLSelectElement).value as Locale)}
            data-testid="language"
          >
            {LOCALES.map((l) => (
              <option value={l} key={l} lang={l}>
                {t(l === 'en' ? 'language.en' : 'language.zhCN')}
              </option>
            ))}
          </select>
        </label>
      </header>
      <div class="alerts">
        {described.map((d) => (
          <ErrorBanner
            key={d.id}
            described={d}
            onDismiss={() => setFailures((list) => list.filter((f) => f.id !== d.id))}
          />
        ))}
      </div>
      {needSignIn && (
        <SignIn
          onSignedIn={() => {
            setNeedSignIn(false)
            setFailures([])
            setSessionVersion((v) => v + 1)
          }}
        />
      )}
      <main id="main" tabIndex={-1} key={sessionVersion}>
        {route.name === 'new' && <ImportFlow importId={null} key="new" />}
        {route.name === 'import' && <ImportFlow importId={route.id} key={route.id} />}
        {route.name === 'history' && <History />}
        {route.name === 'detail' && <ImportDetail importId={route.id} key={route.id} />}
        {route.name === 'dashboard' && <Dashboard />}
      </main>
    </AppContext.Provider>
  )
}
