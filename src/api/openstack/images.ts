import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { imageNotFound, invalidParameter } from '../../domain/errors.ts'
import { IMAGES, type CatalogImage } from '../../services/images.ts'
import type { Services } from '../../services/index.ts'
import { authenticate } from '../auth/authenticate.ts'
import { publicBase } from '../identity/routes.ts'
import { unstorableText } from '../json.ts'
import { ImageSchema, ImageVersionsResponse, ListImagesResponse } from '../schemas/openstack-responses.ts'
import { huaweiErrors } from '../schemas/responses.ts'

/** An image in Glance v2's shape. */
function imageView(i: CatalogImage) {
  return {
    id: i.id,
    name: i.name,
    status: 'active',
    visibility: 'public',
    protected: false,
    os_hidden: false,
    checksum: null,
    owner: null,
    size: i.sizeBytes,
    virtual_size: null,
    min_ram: i.minRamMb,
    min_disk: i.minDiskGb,
    disk_format: i.diskFormat,
    container_format: 'bare',
    os_distro: i.osDistro,
    created_at: i.createdAt,
    updated_at: i.createdAt,
    tags: [],
    self: `/v2/images/${i.id}`,
    file: `/v2/images/${i.id}/file`,
    schema: '/v2/schemas/image',
  }
}

const ImageParams = Type.Object({ image_id: Type.String() }, { additionalProperties: false })
const ListImagesQuery = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 255 })),
    id: Type.Optional(Type.String({ maxLength: 64 })),
    status: Type.Optional(Type.String({ maxLength: 32 })),
    visibility: Type.Optional(Type.String({ maxLength: 32 })),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    marker: Type.Optional(Type.String({ maxLength: 64 })),
  },
  // Glance's other filters and sort keys are accepted and ignored: the catalogue is tiny.
  { additionalProperties: true },
)

const v2Routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addHook('preValidation', async (req: FastifyRequest) => {
    req.principal = await authenticate(services.identity, req, undefined)
    const problem = req.bodyProblem ?? unstorableText({ params: req.params, query: req.query })
    if (problem !== undefined) throw invalidParameter(problem)
  })

  app.get('/images', { schema: { querystring: ListImagesQuery, response: { 200: ListImagesResponse, ...huaweiErrors } } }, async (req) => {
    const q = req.query
    let images = IMAGES.filter((i) => (q.name === undefined || i.name === q.name) && (q.id === undefined || i.id === q.id))
    if (q.status !== undefined && q.status !== 'active') images = []
    if (q.visibility !== undefined && q.visibility !== 'public' && q.visibility !== 'all') images = []
    if (q.marker !== undefined) {
      const at = images.findIndex((i) => i.id === q.marker)
      if (at < 0) throw imageNotFound(q.marker, 400)
      images = images.slice(at + 1)
    }
    if (q.limit !== undefined) images = images.slice(0, q.limit)
    return { images: images.map(imageView), schema: '/v2/schemas/images', first: '/v2/images' }
  })

  app.get('/images/:image_id', { schema: { params: ImageParams, response: { 200: ImageSchema, ...huaweiErrors } } }, async (req) => {
    const image = IMAGES.find((i) => i.id === req.params.image_id)
    if (!image) throw imageNotFound(req.params.image_id, 404)
    return imageView(image)
  })
}

/**
 * A read-only Glance v2 image catalogue under `/image` (the catalog's `image` endpoint), enough
 * for OpenStack clients to resolve `--image NAME` and show a server's image: the version list
 * (`GET /image`), `GET /image/v2/images` (filters `name`, `id`), `GET /image/v2/images/{id}`.
 */
export const imageRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const versions = async (req: FastifyRequest) => ({
    versions: [{ id: 'v2.9', status: 'CURRENT', links: [{ rel: 'self', href: `${publicBase(req)}/image/v2/` }] }],
  })
  const schema = { response: { 200: ImageVersionsResponse, ...huaweiErrors } }
  app.get('/', { schema }, versions)
  app.get('/v2', { schema }, versions)
  app.register(v2Routes, { services, prefix: '/v2' })
}
