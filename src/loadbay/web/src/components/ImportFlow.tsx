import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { navigate } from '../App'
import { useApp } from '../context'
import { api } from '../lib/api'
import { followImport, isFinal, supersedes } from '../lib/events'
import type { MessageKey } from '../lib/i18n'
import { ProgressTracker, sampleOf, type Estimate, type Phase } from '../lib/progress'
import { primaryKeyOf } from '../lib/schema'
import { stepIndex, STEPS, type StepName } from '../lib/steps'
import type { ImportResource, Preview, SchemaResource, UploadResource } from '../lib/types'
import { AnalysisStep } from './AnalysisStep'
import { CommitStep } from './CommitStep'
import { ErrorGrid } from './ErrorGrid'
import { MappingStep } from './MappingStep'
import { ProgressPanel } from './ProgressPanel'
import { SchemaStep } from './SchemaStep'
import { UploadStep, UploadSummary } from './UploadStep'

const SCHEMA_KEY = 'loadbay.schema'

function Section({
  name,
  index,
  current,
  children,
}: {
  name: StepName
  index: number
  current: number
  children: ComponentChildren
}) {
  const { t } = useApp()
  const state = index < current ? 'done' : index === current ? 'current' : 'todo'
  return (
    <section class={`card step step-${state}`} id={`step-${name}`} aria-labelledby={`step-${name}-title`} data-step={name}>
      <h2 id={`step-${name}-title`} tabIndex={-1}>
        <span class="step-number" aria-hidden="true">
          {index + 1}
        </span>
        {t(`step.${name}` as MessageKey)}
        {state === 'done' && <span class="visually-hidden"> ({t('step.statusDone')})</span>}
      </h2>
      {children}
    </section>
  )
}

function Stepper({ current, finished }: { current: number; finished: boolean }) {
  const { t } = useApp()
  return (
    <nav aria-label={t('step.navLabel')} class="stepper">
      <ol>
        {STEPS.map((name, i) => {
          const state = finished || i < current ? 'done' : i === current ? 'current' : 'todo'
          return (
            <li key={name} class={`stepper-${state}`} aria-current={state === 'current' ? 'step' : undefined}>
              <button
                type="button"
                class="link"
                disabled={state === 'todo'}
                onClick={() => {
                  const heading = document.getElementById(`step-${name}-title`)
                  heading?.scrollIntoView({ block: 'start' })
                  heading?.focus()
                }}
              >
                <span class="step-number" aria-hidden="true">
                  {state === 'done' ? '✓' : i + 1}
                </span>
                <span>{t(`step.${name}` as MessageKey)}</span>
                <span class="visually-hidden">
                  {' '}
                  ({t(state === 'done' ? 'step.statusDone' : state === 'current' ? 'step.statusCurrent' : 'step.statusTodo')})
                </span>
              </button>
            </li>
          )
        })}
      </ol>
    </nav>
  )
}

export function ImportFlow({ importId }: { importId: string | null }) {
  const { t, report } = useApp()
  const [schemas, setSchemas] = useState<SchemaResource[] | null>(null)
  const [schemaName, setSchemaName] = useState<string>(() => {
    try {
      return localStorage.getItem(SCHEMA_KEY) ?? ''
    } catch {
      return ''
    }
  })
  const [upload, setUpload] = useState<UploadResource | null>(null)
  const [view, setView] = useState<ImportResource | null>(null)
  const [preview, setPreview] = useState<Preview | null>(null)
  const [creating, setCreating] = useState(false)
  const [connectionLost, setConnectionLost] = useState(false)
  const trackers = useRef<Record<Phase, ProgressTracker>>({
    validating: new ProgressTracker(),
    committing: new ProgressTracker(),
  })
  const [estimates, setEstimates] = useState<Partial<Record<Phase, Estimate>>>({})
  const commitTimes = useRef<{ start: number | null; end: number | null }>({ start: null, end: null })

  useEffect(() => {
    api
      .get<{ items: SchemaResource[] }>('/api/schemas')
      .then((list) => setSchemas(list.items))
      .catch((error: unknown) => {
        setSchemas([])
        report(error)
      })
  }, [report])

  const newest = useRef<ImportResource | null>(null)
  const track = useCallback((next: ImportResource) => {
    if (!supersedes(newest.current, next)) return
    newest.current = next
    const now = performance.now()
    for (const phase of ['validating', 'committing'] as const) {
      const tracker = trackers.current[phase]
      const endsPhase =
        (phase === 'validating' && tracker.samples.length > 0 && next.state !== 'validating') ||
        (phase === 'committing' && tracker.samples.length > 0 && next.state !== 'committing')
      if (next.state === phase || (endsPhase && tracker.samples[tracker.samples.length - 1]!.fraction < 1)) {
        const sample = sampleOf(phase, next, now)
        if (endsPhase) sample.fraction = 1
        const estimate = tracker.add(sample)
        setEstimates((all) => ({ ...all, [phase]: estimate }))
      }
    }
    if (next.state === 'committing' && commitTimes.current.start === null) commitTimes.current.start = now
    if (next.state === 'completed' && commitTimes.current.start !== null && commitTimes.current.end === null) {
      commitTimes.current.end = now
    }
    setView(next)
  }, [])

  // Load the import and follow its events until it ends.
  useEffect(() => {
    if (!importId) return
    let follower: { close(): void } | null = null
    let stopped = false
    api
      .get<ImportResource>(`/api/imports/${importId}`)
      .then((loaded) => {
        if (stopped) return
        track(loaded)
        setSchemaName(loaded.schema.name)
        if (loaded.upload_id) {
          api
            .get<UploadResource>(`/api/uploads/${loaded.upload_id}`)
            .then(setUpload)
            .catch(report)
        }
        if (!isFinal(loaded)) {
          follower = followImport(importId, {
            onEvent: (event) => track(event.view),
            onConnection: setConnectionLost,
          })
        }
      })
      .catch(report)
    return () => {
      stopped = true
      follower?.close()
    }
  }, [importId, report, track])

  // The sample table: once the file is analysed, and again when the mapping changes.
  const analysed = Boolean(view?.analysis)
  const mappingKey = JSON.stringify(view?.mapping ?? null)
  useEffect(() => {
    if (!view || !analysed || view.state === 'analysing') return
    api
      .get<Preview>(`/api/imports/${view.id}/preview?rows=10`)
      .then(setPreview)
      .catch(report)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view?.id, analysed, mappingKey, report])

  const selectSchema = (name: string) => {
    setSchemaName(name)
    try {
      localStorage.setItem(SCHEMA_KEY, name)
    } catch {
      // not remembered across reloads
    }
  }

  const startImport = async () => {
    if (!upload || !schemaName) return
    setCreating(true)
    try {
      const created = await api.post<ImportResource>('/api/imports', { upload_id: upload.id, schema: schemaName })
      navigate({ name: 'import', id: created.id })
    } catch (error) {
      report(error)
    } finally {
      setCreating(false)
    }
  }

  const cancel = async () => {
    if (!view) return
    try {
      track(await api.post<ImportResource>(`/api/imports/${view.id}/cancel`))
    } catch (error) {
      report(error)
    }
  }

  const schema = schemas?.find((s) => s.name === schemaName) ?? null
  const fields = schema?.schema.fields.map((f) => f.name) ?? view?.mapping_proposal?.proposal.map((m) => m.field) ?? []
  const current = stepIndex({ schemaChosen: Boolean(schemaName && schema), upload, view })
  const at = (name: StepName) => STEPS.indexOf(name)
  const finished = view?.state === 'completed'
  const ended = view ? isFinal(view) : false
  const cancellable = Boolean(view) && !ended
  const commitSeconds =
    commitTimes.current.start !== null && commitTimes.current.end !== null
      ? (commitTimes.current.end - commitTimes.current.start) / 1000
      : null
  const showValidation = view && ['validating', 'validated', 'committing', 'completed'].includes(view.state)
    || (view?.state === 'failed' && trackers.current.validating.samples.length > 0)
  const hasPrimaryKey = schema ? primaryKeyOf(schema).length > 0 : false

  return (
    <div class="flow">
      <div class="flow-head">
        <h1>{t('flow.title')}</h1>
        {view && (
          <p class="meta" data-testid="import-state">
            {t('flow.importState', { state: t(`state.${view.state}` as MessageKey) })}
            {view.cancel_requested && ` · ${t('flow.cancelRequested')}`}
            {connectionLost && ` · ${t('flow.reconnecting')}`}
          </p>
        )}
        {view && cancellable && (
          <button type="button" class="danger secondary" onClick={cancel} data-testid="cancel">
            {t('flow.cancel')}
          </button>
        )}
      </div>
      <Stepper current={current} finished={finished} />
      {view?.failure && (
        <div class="banner banner-client" role="alert" data-testid="import-failure">
          <strong>{t('flow.failed', { type: view.failure.type })}</strong>
          <p>{view.failure.detail}</p>
          <p>{t('flow.failedAdvice')}</p>
        </div>
      )}
      {view?.state === 'cancelled' && (
        <p class="notice" role="status">
          {t('flow.cancelled')}
        </p>
      )}

      <Section name="schema" index={at('schema')} current={current}>
        <SchemaStep schemas={schemas} selected={schemaName} onSelect={selectSchema} locked={Boolean(view)} />
      </Section>

      <Section name="upload" index={at('upload')} current={current}>
        {view ? (
          upload ? <UploadSummary upload={upload} /> : <p>{view.file_name}</p>
        ) : (
          <>
            <UploadStep
              upload={upload}
              onUploaded={setUpload}
              onReset={() => setUpload(null)}
              disabled={!schemaName}
            />
            <div class="actions">
              {!schemaName && <p class="meta">{t('upload.chooseSchemaFirst')}</p>}
              <button
                type="button"
                onClick={startImport}
                disabled={!upload || upload.state !== 'complete' || !schemaName || creating}
                data-testid="start-import"
              >
                {t('upload.startImport')}
              </button>
            </div>
          </>
        )}
      </Section>

      {view && (
        <Section name="analysis" index={at('analysis')} current={current}>
          <AnalysisStep view={view} preview={preview} />
        </Section>
      )}

      {view && view.mapping_proposal && (
        <Section name="mapping" index={at('mapping')} current={current}>
          <MappingStep view={view} onChanged={track} />
        </Section>
      )}

      {showValidation && view && (
        <Section name="validation" index={at('validation')} current={current}>
          <ProgressPanel
            phase="validating"
            view={view}
            tracker={trackers.current.validating}
            estimate={estimates.validating ?? null}
            running={view.state === 'validating'}
          />
        </Section>
      )}

      {view && ['validated', 'committing', 'completed', 'failed'].includes(view.state) && view.mapping && (view.counts.rows_invalid > 0 || view.counts.errors_stored > 0) && (
        <Section name="fix" index={at('fix')} current={current}>
          <ErrorGrid view={view} fields={fields} onImport={track} />
        </Section>
      )}

      {view && ['validated', 'committing', 'completed'].includes(view.state) && (
        <Section name="commit" index={at('commit')} current={current}>
          {(view.state === 'committing' || trackers.current.committing.samples.length > 0) && (
            <ProgressPanel
              phase="committing"
              view={view}
              tracker={trackers.current.committing}
              estimate={estimates.committing ?? null}
              running={view.state === 'committing'}
            />
          )}
          <CommitStep view={view} hasPrimaryKey={hasPrimaryKey} onStarted={track} commitSeconds={commitSeconds} />
        </Section>
      )}
    </div>
  )
}
