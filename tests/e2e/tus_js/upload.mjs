// tus-js-client (the tus project's JavaScript client) against a loadbay server.
// Usage: node upload.mjs <endpoint>   e.g. http://127.0.0.1:8000/api/uploads
// Runs each scenario in turn and prints one JSON object: scenario -> what the client saw.
// tests/e2e/test_uploads_tus_js.py checks it against the server's own view.

import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { Upload } from 'tus-js-client'

const endpoint = process.argv[2]
const KIB = 1024
const MIB = 1024 * KIB

const sha256 = (data) => createHash('sha256').update(data).digest('hex')

// Records every request the client makes, so the test can tell a resume (HEAD) from a restart.
function tracer () {
  const seen = { requests: [], headOffsets: [] }
  return {
    seen,
    onBeforeRequest (req) { seen.requests.push(req.getMethod()) },
    onAfterResponse (req, res) {
      if (req.getMethod() === 'HEAD') seen.headOffsets.push(Number(res.getHeader('Upload-Offset')))
    },
  }
}

function finished (upload) {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve(upload)
    upload.options.onError = reject
    upload.start()
  })
}

async function parallel () {
  const data = randomBytes(6 * MIB + 123)
  const trace = tracer()
  const upload = new Upload(data, {
    endpoint,
    parallelUploads: 4,
    retryDelays: null,
    metadata: { filename: 'parallel.bin', filetype: 'application/octet-stream' },
    onBeforeRequest: trace.onBeforeRequest,
  })
  await finished(upload)
  return { url: upload.url, size: data.length, sha256: sha256(data), requests: trace.seen.requests }
}

async function abortAndResume () {
  const data = randomBytes(4 * MIB)
  const trace = tracer()
  let abortedAt = null
  const upload = new Upload(data, {
    endpoint,
    chunkSize: 256 * KIB,
    retryDelays: [100, 500, 1000],
    metadata: { filename: 'resumed.bin' },
    ...trace,
  })
  await new Promise((resolve, reject) => {
    upload.options.onSuccess = resolve
    upload.options.onError = reject
    upload.options.onChunkComplete = (_chunk, accepted) => {
      if (abortedAt === null && accepted >= MIB) {
        abortedAt = accepted
        // Abort as a closed laptop would, then start again: the client asks HEAD for the offset.
        upload.abort().then(() => setTimeout(() => upload.start(), 50), reject)
      }
    }
    upload.start()
  })
  return {
    url: upload.url,
    size: data.length,
    sha256: sha256(data),
    abortedAt,
    headOffsets: trace.seen.headOffsets,
    requests: trace.seen.requests,
  }
}

async function deferredLength () {
  const data = randomBytes(3 * MIB + 7)
  const pieces = []
  for (let start = 0; start < data.length; start += 100 * KIB) pieces.push(data.subarray(start, start + 100 * KIB))
  const upload = new Upload(Readable.from(pieces), {
    endpoint,
    uploadLengthDeferred: true,
    chunkSize: 512 * KIB,
    retryDelays: null,
    metadata: { filename: 'streamed.bin' },
  })
  await finished(upload)
  return { url: upload.url, size: data.length, sha256: sha256(data) }
}

async function terminate () {
  const data = randomBytes(4 * MIB)
  let terminated = null
  const upload = new Upload(data, { endpoint, chunkSize: 256 * KIB, retryDelays: [100, 500, 1000] })
  await new Promise((resolve, reject) => {
    upload.options.onSuccess = () => reject(new Error('finished although terminated'))
    upload.options.onError = reject
    upload.options.onChunkComplete = (_chunk, accepted) => {
      if (terminated === null && accepted >= 512 * KIB) {
        terminated = accepted
        upload.abort(true).then(resolve, reject) // abort(true): DELETE, tus termination
      }
    }
    upload.start()
  })
  return { url: upload.url, terminatedAt: terminated }
}

const results = {}
for (const [name, scenario] of Object.entries({ parallel, abortAndResume, deferredLength, terminate })) {
  results[name] = await scenario()
}
console.log(JSON.stringify(results))
