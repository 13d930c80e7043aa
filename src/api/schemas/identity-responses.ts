import { Type } from 'typebox'
import { Link, Open } from './responses.ts'

/** Answers of the minimal Identity v3 under /v3, as `src/api/identity/routes.ts` builds them. */

const Text = Type.String()
const Named = Open({ id: Text, name: Text })

/** `GET /v3/`: the version document. */
export const IdentityVersionResponse = Open({
  version: Open({
    id: Text,
    status: Text,
    updated: Text,
    links: Type.Array(Link),
    'media-types': Type.Array(Open({ base: Text, type: Text })),
  }),
})

/** `POST /v3/auth/tokens`: the token itself is in the `X-Subject-Token` header. */
export const TokenResponse = Open(
  {
    token: Open({
      methods: Type.Array(Text),
      issued_at: Text,
      expires_at: Text,
      user: Open({ id: Text, name: Text, domain: Named }),
      project: Open({ id: Text, name: Text, domain: Named }),
      roles: Type.Array(Named),
      catalog: Type.Array(Open({
        type: Text,
        name: Text,
        id: Text,
        endpoints: Type.Array(Open({ id: Text, interface: Text, region: Text, region_id: Text, url: Text })),
      })),
    }),
  },
  { description: 'Issued; the token is the X-Subject-Token header' },
)
