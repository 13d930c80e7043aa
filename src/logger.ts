import { pino, type Logger } from 'pino'

/**
 * The process's loggers are made here and nowhere else: one root logger, and a named child per
 * subsystem so that every line says where it came from.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: ['req.headers.authorization', 'req.headers["x-auth-token"]'],
  })
}

/** A named child logger for one subsystem (`db`, `placement`, `jobs`, …). */
export function subsystem(root: Logger, name: string): Logger {
  return root.child({ subsystem: name })
}
