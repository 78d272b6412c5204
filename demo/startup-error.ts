/**
 * The one line `npm start` prints for a mistake in how it was started (a busy port, a MySQL or
 * Redis URL that does not answer), instead of a stack trace. Unknown errors return undefined and
 * keep their stack: those are bugs, not setup mistakes.
 */
export function startupProblem(error: unknown, env: NodeJS.ProcessEnv): string | undefined {
  const e = error as { code?: string; errno?: number; message?: string; address?: string; port?: number }
  const port = env.PORT ?? '3000'
  const mysql = env.MYSQL_URL ? safeUrl(env.MYSQL_URL) : undefined
  switch (e?.code) {
    case 'EADDRINUSE':
      return `port ${port} is already in use: stop what runs there, or start on another port (PORT=${Number(port) + 1} npm start)`
    case 'EACCES':
      return `not allowed to listen on port ${port}: choose a port above 1023 (PORT=3000 npm start)`
    case 'EADDRNOTAVAIL':
      return `HOST=${env.HOST} is not an address of this machine: leave HOST unset or give one of its addresses`
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return mysql
        ? `cannot reach MySQL at ${mysql} (${e.code}): start it, or unset MYSQL_URL to use the in-process database`
        : `cannot reach a server the demo needs (${e.code}: ${e.message})`
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_DBACCESS_DENIED_ERROR':
      return `MySQL at ${mysql} refused the user in MYSQL_URL: ${e.message}`
    case 'ER_INVALID_MYSQL_URL':
      return `MYSQL_URL is not a URL like mysql://user:password@127.0.0.1:3306/corral_demo: ${e.message}`
  }
  return undefined
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return JSON.stringify(url)
  }
}
