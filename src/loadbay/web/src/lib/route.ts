// The page's places, kept in the URL hash so a reload (or a shared link) returns to them.
export type Route =
  | { name: 'new' }
  | { name: 'import'; id: string }
  | { name: 'history' }
  | { name: 'detail'; id: string }
  | { name: 'dashboard' }

const UUID = '[0-9a-fA-F-]{36}'

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '')
  let match = new RegExp(`^/import/(${UUID})$`).exec(path)
  if (match) return { name: 'import', id: match[1]!.toLowerCase() }
  match = new RegExp(`^/history/(${UUID})$`).exec(path)
  if (match) return { name: 'detail', id: match[1]!.toLowerCase() }
  if (path === '/history') return { name: 'history' }
  if (path === '/dashboard') return { name: 'dashboard' }
  return { name: 'new' }
}

export function routeHash(route: Route): string {
  switch (route.name) {
    case 'new':
      return '#/'
    case 'import':
      return `#/import/${route.id}`
    case 'history':
      return '#/history'
    case 'detail':
      return `#/history/${route.id}`
    case 'dashboard':
      return '#/dashboard'
  }
}
