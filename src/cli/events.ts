/**
 * `ecsd events`: the event history — placements, moves, refused placements, status, membership
 * and host changes — read from the database itself (`--data-dir`/`--database`), as `ecsd audit`
 * reads it: newest first, filtered by server, group, host, kind, project and time.
 */
import type { Command } from 'commander'
import { eventBody } from '../api/admin/views.ts'
import { loadConfig, type ConfigFlags } from '../config.ts'
import type { EventKind, EventView } from '../services/events.ts'
import { boundedText, pastTime, positiveInt } from './arguments.ts'
import { databaseOptions, openDatabase } from './database.ts'
import { CommandError, EXIT } from './errors.ts'
import { print, printJson, table } from './output.ts'

/** The flags of `ecsd events`, as commander parses them. */
interface EventsFlags extends ConfigFlags {
  server?: string
  group?: string
  host?: string
  kind?: string
  project?: string
  since?: string
  until?: string
  limit?: number
  marker?: string
  json?: boolean
}

/** Where it happened: a move's source → target, otherwise its host. */
function hostText(e: EventView): string {
  if (e.fromHost !== null && e.toHost !== null && e.fromHost !== e.toHost) return `${e.fromHost} → ${e.toHost}`
  return e.toHost ?? e.host ?? '-'
}

/** Registers `ecsd events`. */
export function registerEventsCommand(program: Command): void {
  const id = boundedText(64)
  databaseOptions(
    program
      .command('events')
      .description('show the event history, newest first: placements, moves, refused placements, status, membership and host changes')
      .option('--server <id>', 'only this server\'s events', id)
      .option('--group <id>', 'only this group\'s events', id)
      .option('--host <name>', 'only events on this host, or moves from or to it', boundedText(255))
      .option('--kind <kind>', 'only events of this kind: placed, move_started, moved, move_failed, placement_refused, state_changed, member_added, member_removed, host_state_changed, group_created, group_deleted')
      .option('--project <id>', 'only this project\'s events', id)
      .option('--since <time>', 'events at or after this time: ISO 8601 with a zone, or how long ago (15m, 2h, 7d)', pastTime)
      .option('--until <time>', 'events before this time (the same forms)', pastTime)
      .option('--limit <n>', 'at most this many events (default 100)', positiveInt(Number.MAX_SAFE_INTEGER))
      .option('--marker <id>', 'the page after this event (the next_marker of the previous page): older events')
      .option('--json', 'print {"events": [...], "next_marker": …} in the admin API\'s names instead of a table'),
  ).action(async (flags: EventsFlags) => {
    const { EVENT_ID_PATTERN, EVENT_KINDS, MAX_EVENT_LIMIT, listEvents } = await import('../services/events.ts')
    if (flags.kind !== undefined && !(EVENT_KINDS as readonly string[]).includes(flags.kind)) {
      throw new CommandError(`--kind: not an event kind: "${flags.kind}" (one of ${EVENT_KINDS.join(', ')})`, EXIT.usage)
    }
    if (flags.limit !== undefined && flags.limit > MAX_EVENT_LIMIT) throw new CommandError(`--limit: at most ${MAX_EVENT_LIMIT}, got ${flags.limit}`, EXIT.usage)
    if (flags.marker !== undefined && !new RegExp(EVENT_ID_PATTERN).test(flags.marker)) throw new CommandError(`--marker: not an event id: "${flags.marker}"`, EXIT.usage)
    const database = await openDatabase(loadConfig({ dataDir: flags.dataDir, database: flags.database, logLevel: 'warn' }), { migrate: false })
    try {
      const page = await listEvents(
        database,
        { serverId: flags.server, groupId: flags.group, host: flags.host, kind: flags.kind as EventKind | undefined, projectId: flags.project, since: flags.since, until: flags.until },
        { limit: flags.limit, marker: flags.marker },
      )
      if (flags.json) {
        printJson({ events: page.events.map(eventBody), next_marker: page.nextMarker })
        return
      }
      print(table(
        ['time', 'kind', 'server', 'group', 'host', 'message'],
        page.events.map((e) => [
          e.at.replace(/\.\d+Z$/, 'Z'), e.kind, e.serverId ?? '-', e.groupId ?? '-', hostText(e), e.diagnosis === null ? e.message : `${e.message}: ${e.diagnosis}`,
        ]),
        '(no events)',
      ))
      if (page.nextMarker !== null) print(`older events: the same command with --marker ${page.nextMarker}`)
    } finally {
      await database.close()
    }
  })
}
