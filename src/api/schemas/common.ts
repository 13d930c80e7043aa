import { Type } from 'typebox'

/** Path parameters of every `/v1/{project_id}/…` route. */
export const ProjectParams = Type.Object({ project_id: Type.String() }, { additionalProperties: false })

/** A server reference in batch bodies: `{"id": "<uuid>"}`. */
export const ServerRef = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
