import type { App } from '../../../src/app.ts'
import type { Database } from '../../../src/store/database.ts'

/** An HTTP method the hostile-input suite sends. */
export type Method = 'GET' | 'POST' | 'DELETE' | 'PUT'

/** The real ids a route's path and valid body are built from (each may be replaced by hostile text). */
export interface Ids {
  server: string
  group: string
  job: string
  /** A port (NIC) of `server`. */
  port: string
  /** A volume attached to `server`. */
  volume: string
  /** A launch template of the project. */
  template: string
  /** A tag or metadata key of `server`. */
  key: string
}

/** A route of the suite: how to build its path and a valid body from the ids. */
export interface Route {
  method: Method
  path: (ids: Ids) => string
  body?: (ids: Ids) => unknown
  /** The path's prefix before the project id; `v1` unless said. `v1.0` paths have no project id. */
  version?: 'v1.1' | 'v2' | 'v3' | 'v1.0'
}

/** What an area's fixtures can use: the app, its database, and the server and group already made. */
export interface FixtureContext {
  app: App
  database: Database
  server: string
  group: string
}

/** An area's routes, and the fixtures (ids) it makes before the property runs. */
export interface RouteArea {
  routes: Route[]
  /** Query keys the area's routes read, for the property to send hostile values in. */
  queryKeys?: string[]
  setup?: (c: FixtureContext) => Promise<Partial<Ids>>
}
