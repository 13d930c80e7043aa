import { Type } from 'typebox'
import { Nullable, Open } from './responses.ts'

/** Answers of the host agents' API under /agent/v1, as `src/api/agent/routes.ts` builds them. */

const Text = Type.String()
const State = Type.String({ description: 'up, down or fencing' })

/** `POST /agent/v1/hosts/{host_name}/heartbeat`: while fencing, the servers to keep. */
export const HeartbeatResponse = Open({
  host: Open({ name: Text, state: State, fence: Type.Optional(Open({ keep: Type.Array(Text) })) }),
})

/** `POST /agent/v1/hosts/{host_name}/register`: the host as it is now recorded. */
export const RegisterResponse = Open({
  host: Open({ name: Text, state: State, availability_zone: Text, fault_domain: Nullable(Type.String()), vcpus: Type.Integer(), ram_mb: Type.Integer() }),
})

/** `GET /agent/v1/hosts/{host_name}/tasks`: the work of the host; `spec` depends on the `kind`. */
export const TasksResponse = Open({
  tasks: Type.Array(Open({ id: Text, kind: Text, server_id: Nullable(Type.String()), spec: Open({}) })),
})

/** `GET /agent/v1/hosts/{host_name}/servers`: what the host should run, for the agent's reconciliation. */
export const ExpectedServersResponse = Open({
  servers: Type.Array(Open({
    id: Text,
    power: Type.String({ description: 'running, stopped, or busy while a job works on it' }),
    vcpus: Type.Integer(),
    ram_mb: Type.Integer(),
    image: Text,
  })),
})
