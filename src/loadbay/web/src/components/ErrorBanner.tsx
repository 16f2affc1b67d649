import { useApp } from '../context'
import type { Described } from '../lib/problem'

/** One failure: what happened, the server's detail, the rows/columns it names, what to do. */
export function ErrorBanner({ described, onDismiss }: { described: Described; onDismiss?: () => void }) {
  const { t } = useApp()
  return (
    <div class={`banner banner-${described.kind}`} role="alert" data-kind={described.kind} data-testid="error-banner">
      <div class="banner-body">
        <strong class="banner-heading">{described.heading}</strong>
        {described.detail && <p class="banner-detail">{described.detail}</p>}
        {described.items.length > 0 && (
          <ul class="banner-items">
            {described.items.map((item, i) => (
              <li key={i}>{item}</li>
            ))}
          </ul>
        )}
        <p class="banner-advice">{described.advice}</p>
        {described.requestId && (
          <p class="banner-request">{t('error.requestId', { id: described.requestId })}</p>
        )}
      </div>
      {onDismiss && (
        <button type="button" class="secondary small" onClick={onDismiss}>
          {t('common.dismiss')}
        </button>
      )}
    </div>
  )
}
