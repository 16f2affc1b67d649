import Uppy, { type UppyFile } from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import Tus from '@uppy/tus'
import enUS from '@uppy/locales/lib/en_US'
import zhCN from '@uppy/locales/lib/zh_CN'
import { useEffect, useRef, useState } from 'preact/hooks'
import { useApp } from '../context'
import { api, ApiError, uploadIdFromUrl } from '../lib/api'
import { formatBytes, formatSpeed } from '../lib/format'
import type { Locale } from '../lib/i18n'
import { SpeedMeter } from '../lib/progress'
import type { UploadResource } from '../lib/types'

// 8 MiB per PATCH: each acknowledged chunk is on the server's disk, so a reload or a lost
// connection resends at most one chunk (docs/uploads.md).
export const CHUNK_SIZE = 8 * 1024 * 1024
const PENDING_KEY = 'loadbay.pendingUpload'

function uppyLocale(locale: Locale) {
  return locale === 'zh-CN' ? zhCN : enUS
}

interface Pending {
  name: string
  size: number
}

function readPending(): Pending | null {
  try {
    const raw = localStorage.getItem(PENDING_KEY)
    return raw ? (JSON.parse(raw) as Pending) : null
  } catch {
    return null
  }
}

function writePending(pending: Pending | null): void {
  try {
    if (pending) localStorage.setItem(PENDING_KEY, JSON.stringify(pending))
    else localStorage.removeItem(PENDING_KEY)
  } catch {
    // storage unavailable: resuming still works through tus' own fingerprint when it can
  }
}

type Meta = Record<string, never>
type Body = Record<string, never>

export function UploadStep({
  upload,
  onUploaded,
  onReset,
  disabled,
}: {
  upload: UploadResource | null
  onUploaded: (upload: UploadResource) => void
  onReset: () => void
  disabled: boolean
}) {
  const { t, locale, report } = useApp()
  const target = useRef<HTMLDivElement>(null)
  const uppyRef = useRef<Uppy<Meta, Body> | null>(null)
  const [speed, setSpeed] = useState<number | null>(null)
  const [uploading, setUploading] = useState(false)
  const [pending, setPending] = useState<Pending | null>(() => readPending())
  const [resumedFrom, setResumedFrom] = useState<number | null>(null)
  const callbacks = useRef({ onUploaded, onReset, report, t })
  callbacks.current = { onUploaded, onReset, report, t }

  useEffect(() => {
    if (!target.current) return
    const meter = new SpeedMeter()
    const uppy = new Uppy<Meta, Body>({
      id: 'loadbay-upload',
      autoProceed: true,
      allowMultipleUploadBatches: false,
      restrictions: { maxNumberOfFiles: 1 },
      locale: uppyLocale(locale),
    })
      .use(Dashboard<Meta, Body>, {
        inline: true,
        target: target.current,
        width: '100%',
        height: 300,
        proudlyDisplayPoweredByUppy: false,
        hideProgressDetails: false,
        hideUploadButton: true,
        hideCancelButton: false,
        hidePauseResumeButton: false,
        doneButtonHandler: null,
        theme: 'light',
      })
      .use(Tus<Meta, Body>, {
        endpoint: '/api/uploads',
        chunkSize: CHUNK_SIZE,
        retryDelays: [0, 1000, 3000, 5000, 10000],
        removeFingerprintOnSuccess: true,
        allowedMetaFields: ['name', 'type'],
        headers: () => api.csrfHeaders(),
      })
    uppyRef.current = uppy
    uppy.on('file-added', (file: UppyFile<Meta, Body>) => {
      writePending({ name: file.name ?? '', size: file.size ?? 0 })
      setResumedFrom(null)
    })
    uppy.on('upload-progress', (file, progress) => {
      setUploading(true)
      if (file && progress.bytesTotal) {
        setSpeed(meter.add(performance.now(), progress.bytesUploaded))
        setResumedFrom((from) => (from === null ? progress.bytesUploaded : from))
      }
    })
    uppy.on('upload-success', (_file, response) => {
      setUploading(false)
      writePending(null)
      setPending(null)
      const id = response?.uploadURL ? uploadIdFromUrl(response.uploadURL) : null
      if (!id) {
        callbacks.current.report(new Error(callbacks.current.t('upload.noId')))
        return
      }
      api
        .get<UploadResource>(`/api/uploads/${id}`)
        .then((resource) => callbacks.current.onUploaded(resource))
        .catch((error: unknown) => callbacks.current.report(error))
    })
    uppy.on('upload-error', (_file, error, response) => {
      setUploading(false)
      const status = response?.status
      const body = response?.body as Record<string, unknown> | undefined
      if (status) {
        callbacks.current.report(
          new ApiError(status >= 500 ? 'server' : status === 429 ? 'rate-limit' : 'client', status, {
            status,
            title: typeof body?.title === 'string' ? body.title : callbacks.current.t('upload.failedTitle'),
            detail: typeof body?.detail === 'string' ? body.detail : error?.message,
          }),
        )
      } else {
        callbacks.current.report(new ApiError('network', null, { detail: error?.message }))
      }
    })
    uppy.on('file-removed', () => {
      setSpeed(null)
      setUploading(false)
      writePending(null)
      callbacks.current.onReset()
    })
    return () => {
      uppy.destroy()
      uppyRef.current = null
    }
    // Uppy is made once; the locale follows through setOptions below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])

  useEffect(() => {
    uppyRef.current?.setOptions({ locale: uppyLocale(locale) })
  }, [locale])

  return (
    <div class={disabled ? 'upload disabled' : 'upload'}>
      {pending && !upload && !uploading && (
        <p class="notice" data-testid="resume-hint">
          {t('upload.resumeHint', { name: pending.name, size: formatBytes(locale, pending.size) })}
        </p>
      )}
      <div ref={target} class="dashboard" aria-label={t('upload.dropLabel')} />
      <p class="meta" aria-live="polite" data-testid="upload-speed">
        {uploading && t('upload.speed', { speed: formatSpeed(locale, speed) })}
        {uploading && resumedFrom !== null && resumedFrom > 0 &&
          ` · ${t('upload.resumedAt', { offset: formatBytes(locale, resumedFrom) })}`}
      </p>
      {upload && <UploadSummary upload={upload} />}
    </div>
  )
}

export function UploadSummary({ upload }: { upload: UploadResource }) {
  const { t, locale } = useApp()
  return (
    <dl class="facts" data-testid="upload-summary">
      <dt>{t('upload.file')}</dt>
      <dd>{upload.filename ?? upload.id}</dd>
      <dt>{t('upload.size')}</dt>
      <dd>{upload.size === null ? t('common.unknown') : formatBytes(locale, upload.size)}</dd>
      <dt>{t('upload.state')}</dt>
      <dd>{t(upload.state === 'complete' ? 'upload.complete' : upload.state === 'corrupt' ? 'upload.corrupt' : 'upload.uploading')}</dd>
      <dt>SHA-256</dt>
      <dd>
        <code class="hash" data-testid="sha256">
          {upload.sha256 ?? '–'}
        </code>
      </dd>
      <dt>MD5</dt>
      <dd>
        <code class="hash">{upload.md5 ?? '–'}</code>
      </dd>
      {upload.duplicate_of && (
        <>
          <dt>{t('upload.duplicate')}</dt>
          <dd>{t('upload.duplicateOf', { id: upload.duplicate_of })}</dd>
        </>
      )}
      {upload.problem && (
        <>
          <dt>{t('upload.problem')}</dt>
          <dd>{upload.problem}</dd>
        </>
      )}
    </dl>
  )
}
