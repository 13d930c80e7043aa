import type { FastifyPluginAsync } from 'fastify'
import { adminOnly } from '../../domain/errors.ts'
import { audit } from '../../services/audit.ts'
import type { Services } from '../../services/index.ts'
import { authenticate } from '../auth/authenticate.ts'

/** Operator routes under /admin: signed like every other request, and only with an admin credential. */
export const adminRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  app.addHook('preValidation', async (req) => {
    req.principal = await authenticate(services.database, req, undefined)
    if (!req.principal.admin) throw adminOnly(`${req.method} ${req.url.split('?')[0] ?? ''}`)
  })

  /** Every invariant checked against the database; 200 with the list (empty when all hold). */
  app.get('/audit', async () => ({ violations: await audit(services.database.db) }))
}
