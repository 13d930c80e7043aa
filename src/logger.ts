import { pino, type DestinationStream, type Logger } from 'pino'

/**
 * The process's loggers are made here and nowhere else: one root logger, and a named child per
 * subsystem so that every line says where it came from. Lines go to stdout unless `destination`
 * says otherwise (a CLI command whose stdout is its answer logs to stderr).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: ['req.headers.authorization', 'req.headers["x-auth-token"]'],
  }, destination)
}

/** A named child logger for one subsystem (`db`, `placement`, `jobs`, …). */
export function subsystem(root: Logger, name: string): Logger {
  return root.child({ subsystem: name })
}
