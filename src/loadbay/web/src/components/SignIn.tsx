import { useState } from 'preact/hooks'
import { useApp } from '../context'
import { api } from '../lib/api'
import { describe } from '../lib/problem'
import type { SessionInfo } from '../lib/types'

/** Shown when the server needs credentials (LOADBAY_AUTH=required): an API key or the admin password. */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const { t } = useApp()
  const [method, setMethod] = useState<'key' | 'password'>('key')
  const [secret, setSecret] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setProblem(null)
    try {
      const body = method === 'key' ? { key: secret } : { password: secret }
      const session = await api.post<SessionInfo>('/api/session', body)
      api.csrfToken = session.csrf_token
      onSignedIn()
    } catch (error) {
      const d = describe(t, error)
      setProblem(`${d.heading}: ${d.detail ?? d.advice}`)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section class="card signin" aria-labelledby="signin-title">
      <h2 id="signin-title">{t('signin.title')}</h2>
      <p>{t('signin.intro')}</p>
      <form onSubmit={submit}>
        <fieldset>
          <legend>{t('signin.method')}</legend>
          <label class="inline">
            <input type="radio" name="signin-method" checked={method === 'key'} onChange={() => setMethod('key')} />
            {t('signin.withKey')}
          </label>
          <label class="inline">
            <input
              type="radio"
              name="signin-method"
              checked={method === 'password'}
              onChange={() => setMethod('password')}
            />
            {t('signin.withPassword')}
          </label>
        </fieldset>
        <label>
          <span>{method === 'key' ? t('signin.key') : t('signin.password')}</span>
          <input
            type="password"
            autoComplete={method === 'key' ? 'off' : 'current-password'}
            value={secret}
            onInput={(e) => setSecret((e.currentTarget as HTMLInputElement).value)}
            required
          />
        </label>
        {problem && (
          <p class="field-error" role="alert">
            {problem}
          </p>
        )}
        <button type="submit" disabled={busy || !secret}>
          {t('signin.submit')}
        </button>
      </form>
    </section>
  )
}
