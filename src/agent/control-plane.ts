/**
 * The agent's side of the agent API (`/agent/v1/hosts/{name}/…`): every request the agent makes
 * of the control plane, in one place, over the shared signed client (`EcsdClient`: http:// or
 * https:// verified against `--ca`). Answers are typed; an answer that is not what the agent
 * needs is a `ControlPlaneError` that says whether trying again can help.
 */
import type { AgentTask, AgentTaskKind } from '../domain/agent-task.ts'
import { EcsdClient, EndpointError, errorMessage, type ClientCredential } from '../api/client.ts'

/** What the control plane answers a heartbeat: the host's power state, and while fencing what to keep. */
export interface HeartbeatReply {
  state: 'up' | 'down' | 'fencing'
  /** Set while fencing: every VM of this host not listed here must be destroyed before reporting `fenced`. */
  keep?: string[]
}

/** A server the control plane puts on this host, as `GET …/servers` lists it. */
export interface ExpectedVm {
  id: string
  power: 'running' | 'stopped' | 'busy'
  vcpus: number
  ramMb: number
  image: string
}

/** What the agent tells the control plane when it starts. */
export interface Registration {
  /** `host:port` where other agents reach this one (disks, live migrations). */
  address: string
  vcpus?: number | undefined
  ramMb?: number | undefined
  faultDomain?: string | undefined
}

/** How a task ended, as reported. */
export type TaskOutcome = { state: 'done'; result?: unknown } | { state: 'failed'; error: string }

/**
 * A request that got no usable answer. `retryable`: the control plane could not be reached, or
 * answered with a status that may change by itself (5xx, 408, 429, 409); otherwise (400, 401,
 * 403, 404) the request itself is refused and repeating it unchanged will not help.
 */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError'
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** Where the agent reaches the control plane, and as which host. */
export interface ControlPlaneOptions {
  endpoint: string
  hostName: string
  credential: Pick<ClientCredential, 'accessKey' | 'secretKey'>
  caFile?: string | undefined
}

/** The agent API of one host, signed with that host's credential (which has no project). */
export class ControlPlane {
  private readonly client: EcsdClient
  private readonly base: string

  /** Throws ConfigError for an unusable endpoint or CA file. */
  constructor(options: ControlPlaneOptions) {
    this.client = new EcsdClient({ endpoint: options.endpoint, credential: { accessKey: options.credential.accessKey, secretKey: options.credential.secretKey }, caFile: options.caFile })
    this.base = `/agent/v1/hosts/${encodeURIComponent(options.hostName)}`
  }

  /** The endpoint, for log lines. */
  get endpoint(): string {
    return this.client.endpoint.origin
  }

  /** Registers this agent's address (and, if given, the machine's capacity and fault domain). */
  async register(r: Registration): Promise<void> {
    await this.call('POST', '/register', {
      agent: {
        address: r.address,
        ...(r.vcpus === undefined ? {} : { vcpus: r.vcpus }),
        ...(r.ramMb === undefined ? {} : { ram_mb: r.ramMb }),
        ...(r.faultDomain === undefined ? {} : { fault_domain: r.faultDomain }),
      },
    })
  }

  /** A heartbeat; `fenced` once every VM not to keep is destroyed. */
  async heartbeat(fenced: boolean): Promise<HeartbeatReply> {
    const body = await this.call<{ host: { state: HeartbeatReply['state']; fence?: { keep: string[] } } }>('POST', '/heartbeat', fenced ? { fenced: true } : {})
    return { state: body.host.state, ...(body.host.fence ? { keep: body.host.fence.keep } : {}) }
  }

  /** Long-polls the host's tasks: waits up to `waitS` seconds for one. `signal` ends the wait early. */
  async tasks(session: string, waitS: number, signal?: AbortSignal): Promise<AgentTask[]> {
    const query = `?session=${encodeURIComponent(session)}&wait=${waitS}`
    // The server holds the request up to `waitS`: give the answer that long on top of the usual time.
    const body = await this.call<{ tasks: Array<{ id: string; kind: AgentTaskKind; server_id: string | null; spec: unknown }> }>(
      'GET', `/tasks${query}`, undefined, { timeoutMs: 30_000 + waitS * 1000, signal },
    )
    return body.tasks.map((t) => ({ id: t.id, kind: t.kind, serverId: t.server_id, spec: t.spec as AgentTask['spec'] }))
  }

  /** Reports a task's end; reporting it again is harmless. */
  async report(taskId: string, outcome: TaskOutcome): Promise<void> {
    await this.call('POST', `/tasks/${encodeURIComponent(taskId)}`, outcome)
  }

  /** What the control plane expects this host to run. */
  async servers(): Promise<ExpectedVm[]> {
    const body = await this.call<{ servers: Array<{ id: string; power: ExpectedVm['power']; vcpus: number; ram_mb: number; image: string }> }>('GET', '/servers')
    return body.servers.map((s) => ({ id: s.id, power: s.power, vcpus: s.vcpus, ramMb: s.ram_mb, image: s.image }))
  }

  /** Closes the kept connections. */
  close(): Promise<void> {
    return this.client.close()
  }

  private async call<T = unknown>(method: string, path: string, body?: unknown, options: { timeoutMs?: number; signal?: AbortSignal | undefined } = {}): Promise<T> {
    let answer
    try {
      answer = await this.client.request<T>(method, `${this.base}${path}`, body, options)
    } catch (err) {
      if (err instanceof EndpointError) throw new ControlPlaneError(err.message, true, err.status)
      throw err
    }
    if (answer.status >= 200 && answer.status <= 299) return answer.body as T
    const retryable = answer.status >= 500 || answer.status === 408 || answer.status === 409 || answer.status === 429
    const message = errorMessage(answer.body) ?? 'no reason given'
    throw new ControlPlaneError(`${method} ${this.base}${path.replace(/\?.*$/, '')} answered ${answer.status}: ${message}`, retryable, answer.status)
  }
}
