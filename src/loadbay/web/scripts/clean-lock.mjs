// Drops the "funding" entries (sponsor URLs) from package-lock.json, so that the committed
// lock names no host at all (.npmrc already omits the "resolved" download URLs).
// Run after changing dependencies: `npm run lock`.
import { readFileSync, writeFileSync } from 'node:fs'

const path = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(path, 'utf8'))
for (const entry of Object.values(lock.packages ?? {})) delete entry.funding
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n')
