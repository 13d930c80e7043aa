/**
 * The host agent: one process per host that makes the hypervisor of its machine do what the
 * control plane decided. It registers its host (its address for the other agents, and optionally
 * the machine's capacity and fault domain), heartbeats, long-polls the host's tasks and carries
 * each out through the `Hypervisor`, reporting the outcome.
 *
 * Never twice: each task's run is recorded in the state directory before it starts and its
 * outcome before it is reported (`TaskRecords`), so a task delivered again — the agent restarted,
 * or a report was lost — is answered from its record, and only a run that was interrupted runs
 * again (every hypervisor call is idempotent). Tasks of one server run one after the other;
 * different servers' run side by side.
 *
 * Never stale: at start, and whenever the control plane says the host is back up, the agent
 * reconciles — it starts the VMs that should run, stops those that should not, and destroys VMs
 * the control plane does not put on this host and that no task of this process concerns. A host
 * that comes back after it was declared down is fenced first: the heartbeat's answer lists the
 * servers to keep, every other VM is destroyed (it was evacuated and runs elsewhere), and only
 * then does the agent report `fenced`.
 *
 * Never gone: a control plane that cannot be reached is retried with backoff, forever; the only
 * reason to give up is a registration the control plane refuses outright (a wrong credential,
 * an unknown host, a bad address).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, readdir, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { AgentTask, AgentTaskSpecs, VmSpec } from '../domain/agent-task.ts'
import { ControlPlane, ControlPlaneError, type TaskOutcome } from './control-plane.ts'
import { createDiskServer, DiskGrants, DiskRefused, fetchDisk, listen } from './disks.ts'
import type { Hypervisor } from './hypervisor.ts'
import { TaskRecords, type TaskRecord } from './task-records.ts'

/** What an agent needs to run. */
export interface AgentOptions {
  /** The control plane's base URL (any replica, or a load balancer in front of them). */
  endpoint: string
  /** `--ca`: the PEM CA that signed an https:// endpoint's certificate. */
  caFile?: string | undefined
  /** The host this agent runs for, and that host's agent credential (`ecsd hosts add` prints it). */
  hostName: string
  credential: { accessKey: string; secretKey: string }
  /** Where the agent keeps what must survive its restart: task records, disk grants, downloads. */
  stateDir: string
  hypervisor: Hypervisor
  /** Where the disk server listens (port 0: any free port). */
  listen: { host: string; port: number }
  /** `host:port` other agents reach this one at; default the listen address (the machine's name when it listens on every interface). */
  advertise?: string | undefined
  /** The machine's capacity and rack, reported at registration instead of the host record's. */
  vcpus?: number | undefined
  ramMb?: number | undefined
  faultDomain?: string | undefined
  /** Caps the memory a VM really gets; the control plane's accounting keeps the flavor's. */
  maxVmRamMb?: number | undefined
  logger: Logger
  /** Time between heartbeats (default 3 s; the control plane declares a host down after 30 s by default). */
  heartbeatMs?: number | undefined
  /** How long one long-poll for tasks waits at the control plane (default 20 s, at most 30). */
  pollWaitS?: number | undefined
}

/** A running agent. */
export interface RunningAgent {
  /** Where the disk server listens. */
  listening: AddressInfo
  /** The address registered for the other agents. */
  advertised: string
  /** This process's session: tasks another session took and did not report come back to it. */
  session: string
  /** Resolves when `stop` is done; rejects when the agent cannot go on (its registration refused). */
  finished: Promise<void>
  /** Stops polling and heartbeating, waits a little for tasks and reports in flight, closes the disk server. */
  stop(): Promise<void>
}

/** The control plane refused the agent outright: retrying cannot help, an operator must act. */
export class AgentRefused extends Error {
  override name = 'AgentRefused'
}

const DEFAULT_HEARTBEAT_MS = 3000
const DEFAULT_POLL_WAIT_S = 20
/** Retries of an unreachable control plane start at this delay and double up to the next. */
const BACKOFF_START_MS = 250
const BACKOFF_MAX_MS = 5000
/** How long `stop` waits for tasks and reports in flight before it lets them go. */
const STOP_GRACE_MS = 5000
/** Tries of a disk download whose source cannot be reached (it may be restarting) before the task fails. */
const DISK_FETCH_ATTEMPTS = 6
/** A disk download that receives nothing for this long is given up (and tried again). */
const DISK_IDLE_TIMEOUT_MS = 60_000

/** Starts an agent: its disk server listens when this resolves; registering, heartbeats and tasks go on in the background. */
export async function runAgent(options: AgentOptions): Promise<RunningAgent> {
  const agent = new Agent(options)
  return agent.start()
}

class Agent {
  private readonly session = randomUUID()
  private readonly cp: ControlPlane
  private readonly records: TaskRecords
  private readonly grants: DiskGrants
  private readonly incomingDir: string
  private readonly hv: Hypervisor
  private readonly log: Logger
  private readonly abort = new AbortController()
  private server: Server | undefined
  private stopping = false

  /** Tasks of each server run one after the other: the tail of each server's chain. */
  private readonly chains = new Map<string, Promise<void>>()
  /** Ids of the tasks this process holds (queued, running or being reported). */
  private readonly inFlight = new Set<string>()
  /** Work in flight that `stop` waits for. */
  private readonly pending = new Set<Promise<unknown>>()
  /** Servers with a task queued or running here, with how many. */
  private readonly openTasks = new Map<string, number>()
  /** A counter of tasks taken, and the last value for each server: a reconciliation leaves alone a server that got a task since it looked. */
  private taskCount = 0
  private readonly lastTaskOf = new Map<string, number>()

  /** The host's power state as the last heartbeat answered; undefined before the first. */
  private hostState: 'up' | 'down' | 'fencing' | undefined
  private reconcileNeeded = true
  private reconciling: Promise<void> | undefined
  private markReady: () => void = () => undefined
  /** Resolves after the first reconciliation: no task is taken before the hypervisor matches the control plane. */
  private readonly ready = new Promise<void>((resolve) => (this.markReady = resolve))

  constructor(private readonly options: AgentOptions) {
    this.cp = new ControlPlane({ endpoint: options.endpoint, hostName: options.hostName, credential: options.credential, caFile: options.caFile })
    this.records = new TaskRecords(options.stateDir)
    this.grants = new DiskGrants(options.stateDir)
    this.incomingDir = path.join(options.stateDir, 'incoming')
    this.hv = options.hypervisor
    this.log = options.logger
  }

  async start(): Promise<RunningAgent> {
    await mkdir(this.options.stateDir, { recursive: true })
    await this.records.open()
    await this.grants.open()
    await mkdir(this.incomingDir, { recursive: true })
    // Downloads a crash interrupted: their tasks run again and download anew.
    for (const name of await readdir(this.incomingDir)) await rm(path.join(this.incomingDir, name), { force: true })

    this.server = createDiskServer({ grants: this.grants, diskFile: (id) => this.hv.diskFile(id), logger: this.log })
    const listening = await listen(this.server, this.options.listen.host, this.options.listen.port)
    const advertised = this.options.advertise ?? defaultAdvertise(this.options.listen.host, listening.port)
    this.log.info({ listen: `${listening.address}:${listening.port}`, advertise: advertised, session: this.session, endpoint: this.cp.endpoint, host: this.options.hostName }, 'agent listening')

    const finished = this.main(advertised).finally(() => this.close())
    return {
      listening, advertised, session: this.session, finished,
      stop: async () => {
        this.stopping = true
        this.abort.abort()
        await finished.catch(() => undefined)
      },
    }
  }

  /** Registers, then heartbeats and takes tasks until stopped. */
  private async main(advertised: string): Promise<void> {
    await this.register(advertised)
    if (this.stopping) return
    await Promise.all([this.heartbeatLoop(), this.taskLoop()])
  }

  private async close(): Promise<void> {
    this.stopping = true
    this.abort.abort()
    await Promise.race([Promise.allSettled([...this.pending]), sleep(STOP_GRACE_MS, undefined, { ref: false })])
    await new Promise((resolve) => this.server?.close(resolve) ?? resolve(undefined))
    await this.cp.close()
    this.log.info('agent stopped')
  }

  // ---- registration and heartbeats -------------------------------------------------------------

  private async register(address: string): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        await this.cp.register({ address, vcpus: this.options.vcpus, ramMb: this.options.ramMb, faultDomain: this.options.faultDomain })
        this.log.info({ address }, 'registered')
        return
      } catch (err) {
        if (err instanceof ControlPlaneError && !err.retryable) {
          throw new AgentRefused(`the control plane refused to register host ${this.options.hostName}: ${err.message}`)
        }
        this.log.warn({ err: describe(err), attempt }, 'cannot register yet; retrying')
        await this.pause(attempt)
      }
    }
  }

  private async heartbeatLoop(): Promise<void> {
    const interval = this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    let failures = 0
    while (!this.stopping) {
      try {
        await this.heartbeat()
        if (failures > 0) this.log.info({ failures }, 'heartbeats reach the control plane again')
        failures = 0
      } catch (err) {
        failures++
        this.log.warn({ err: describe(err), failures }, 'heartbeat failed')
      }
      // After a failure, sooner than the interval (with backoff), so a returning control plane hears from the host at once.
      await this.pause(failures, failures === 0 ? interval : Math.min(interval, backoffMs(failures)))
    }
  }

  /** One heartbeat: fences when told to, and reconciles when the host is (back) up. */
  private async heartbeat(): Promise<void> {
    let reply = await this.cp.heartbeat(false)
    if (reply.state === 'fencing') {
      await this.fence(reply.keep ?? [])
      reply = await this.cp.heartbeat(true)
    }
    if (reply.state !== this.hostState) this.log.info({ state: reply.state, was: this.hostState ?? 'unknown' }, 'host state')
    if (reply.state === 'up' && this.hostState !== 'up') this.reconcileNeeded = true
    this.hostState = reply.state
    if (reply.state === 'up' && this.reconcileNeeded) this.reconcileInBackground()
  }

  /** Destroys every VM of this host that is not to be kept: they were evacuated and run elsewhere now. */
  private async fence(keep: readonly string[]): Promise<void> {
    const kept = new Set(keep)
    const stale = (await this.hv.list()).filter((vm) => !kept.has(vm.serverId)).map((vm) => vm.serverId)
    await Promise.all(stale.map((id) => this.serialize(id, async () => {
      await this.hv.destroy(id)
      await this.grants.revoke(id)
    })))
    this.log.warn({ destroyed: stale, kept: keep.length }, 'fenced: destroyed the VMs evacuated from this host while it was down')
  }

  // ---- reconciliation ------------------------------------------------------------------------

  private reconcileInBackground(): void {
    if (this.reconciling) return
    this.reconciling = this.track(this.reconcile())
      .then(() => {
        this.reconcileNeeded = false
        this.markReady()
      })
      .catch((err: unknown) => this.log.warn({ err: describe(err) }, 'reconciliation failed; tried again at the next heartbeat'))
      .finally(() => (this.reconciling = undefined))
  }

  /**
   * Makes the hypervisor match what the control plane expects on this host. Servers it lists as
   * `busy` are a job's to change, and a server that got a task here since this look began is the
   * task's: both are left alone.
   */
  private async reconcile(): Promise<void> {
    const since = this.taskCount
    const local = await this.hv.list()
    const expected = await this.cp.servers()
    const byId = new Map(expected.map((e) => [e.id, e]))
    const untouched = (id: string) => !this.openTasks.has(id) && (this.lastTaskOf.get(id) ?? 0) <= since
    const actions: Array<Promise<void>> = []
    const act = (id: string, what: string, fn: () => Promise<void>) => {
      actions.push(this.serialize(id, async () => {
        if (!untouched(id)) return
        this.log.info({ serverId: id, action: what }, 'reconciling')
        await fn()
      }))
    }
    for (const vm of local) {
      const e = byId.get(vm.serverId)
      if (e === undefined) {
        act(vm.serverId, 'destroy: not on this host', async () => {
          await this.hv.destroy(vm.serverId)
          await this.grants.revoke(vm.serverId)
        })
      } else if (e.power === 'stopped' && vm.running) {
        act(vm.serverId, 'stop: should be stopped', () => this.hv.stop(vm.serverId, false))
      } else if (e.power === 'running' && !vm.running) {
        act(vm.serverId, 'start: should run', () => this.hv.start(this.sized({ serverId: e.id, vcpus: e.vcpus, ramMb: e.ramMb, image: e.image })))
      }
    }
    const present = new Set(local.map((vm) => vm.serverId))
    for (const e of expected) {
      if (e.power !== 'running' || present.has(e.id)) continue
      act(e.id, 'start from its image: should run, but this host has no VM for it', () => this.hv.start(this.sized({ serverId: e.id, vcpus: e.vcpus, ramMb: e.ramMb, image: e.image })))
    }
    await Promise.all(actions)
    this.log.info({ local: local.length, expected: expected.length, actions: actions.length }, 'reconciled')
  }

  // ---- tasks -----------------------------------------------------------------------------------

  private async taskLoop(): Promise<void> {
    await Promise.race([this.ready, new Promise((resolve) => this.abort.signal.addEventListener('abort', resolve, { once: true }))])
    const wait = Math.min(30, Math.max(0, this.options.pollWaitS ?? DEFAULT_POLL_WAIT_S))
    let failures = 0
    while (!this.stopping) {
      let tasks: AgentTask[]
      try {
        tasks = await this.cp.tasks(this.session, wait, this.abort.signal)
        if (failures > 0) this.log.info({ failures }, 'tasks reach the agent again')
        failures = 0
      } catch (err) {
        if (this.stopping) return
        failures++
        this.log.warn({ err: describe(err), failures }, 'cannot fetch tasks; retrying')
        await this.pause(failures)
        continue
      }
      for (const task of tasks) this.accept(task)
    }
  }

  /** Takes a task: runs it (after the server's earlier tasks), then reports its outcome. */
  private accept(task: AgentTask): void {
    if (this.inFlight.has(task.id)) return
    this.inFlight.add(task.id)
    const key = task.serverId ?? task.id
    this.lastTaskOf.set(key, ++this.taskCount)
    this.openTasks.set(key, (this.openTasks.get(key) ?? 0) + 1)
    // A console read changes nothing: it need not wait behind a long migration.
    const run = task.kind === 'console' ? this.carryOut(task) : this.serialize(key, () => this.carryOut(task))
    void this.track(run
      .finally(() => {
        const left = (this.openTasks.get(key) ?? 1) - 1
        if (left === 0) this.openTasks.delete(key)
        else this.openTasks.set(key, left)
      })
      .then((outcome) => (outcome === undefined ? undefined : this.report(task, outcome)))
      .catch((err: unknown) => this.log.error({ err, taskId: task.id }, 'task could not be recorded; its next delivery runs it again'))
      .finally(() => this.inFlight.delete(task.id)))
  }

  /**
   * Runs a task once: answered from its record if it finished before, run (again) otherwise.
   * Answers the outcome to report; undefined when the outcome could not be recorded — then it is
   * not reported either, and the task's next delivery (to the next session) runs it again.
   */
  private async carryOut(task: AgentTask): Promise<TaskOutcome | undefined> {
    const fields = { taskId: task.id, kind: task.kind, serverId: task.serverId }
    const previous = await this.records.get(task.id)
    if (previous !== undefined && previous.state !== 'running') {
      this.log.info({ ...fields, state: previous.state }, 'task delivered again: answered from its record, not run again')
      return TaskRecords.outcome(previous)
    }
    if (previous !== undefined) this.log.warn({ ...fields, attempts: previous.attempts }, 'task was interrupted: running it again')
    let record = await this.records.begin(task, previous)
    const started = Date.now()
    let outcome: TaskOutcome
    try {
      const result = await this.execute(task, record, async (phase) => {
        record = await this.records.advance(record, phase)
      })
      outcome = { state: 'done', ...(result === undefined ? {} : { result }) }
      this.log.info({ ...fields, ms: Date.now() - started }, 'task done')
    } catch (err) {
      outcome = { state: 'failed', error: (err instanceof Error ? err.message : String(err)).slice(0, 4000) || 'failed' }
      this.log.warn({ ...fields, err: describe(err), ms: Date.now() - started }, 'task failed')
    }
    try {
      await this.records.finish(record, outcome)
    } catch (err) {
      this.log.error({ ...fields, err: describe(err) }, 'cannot record the outcome: not reported')
      return undefined
    }
    return outcome
  }

  /** What each kind of task does on the hypervisor; answers the task's result, if it has one. */
  private async execute(task: AgentTask, record: TaskRecord, advance: (phase: string) => Promise<void>): Promise<unknown> {
    const hv = this.hv
    switch (task.kind) {
      case 'boot':
      case 'start':
        await hv.start(this.sized(specOf(task, 'boot')))
        return undefined
      case 'stop': {
        const s = specOf(task, 'stop')
        await hv.stop(s.serverId, s.hard)
        return undefined
      }
      case 'reboot': {
        const s = specOf(task, 'reboot')
        await hv.reboot(s.serverId, s.hard)
        return undefined
      }
      case 'delete':
      case 'release': {
        const s = specOf(task, 'delete')
        await this.grants.revoke(s.serverId)
        await hv.destroy(s.serverId)
        return undefined
      }
      case 'resize': {
        // The new size takes effect at the next start: the VM's vCPUs and memory are the spec's.
        const s = specOf(task, 'resize')
        await hv.stop(s.serverId, false)
        if (s.powerOnAfter) await hv.start(this.sized(s))
        return undefined
      }
      case 'send-disk': {
        const s = specOf(task, 'send-disk')
        await hv.stop(s.serverId, false)
        await this.grants.grant(s.serverId, s.token)
        return undefined
      }
      case 'receive-disk': {
        const s = specOf(task, 'receive-disk')
        const vm = this.sized(s)
        if (record.phase !== 'adopted') {
          await this.receiveDisk(vm, s.source, s.token)
          await advance('adopted')
        }
        if (s.powerOnAfter) await hv.start(vm)
        return undefined
      }
      case 'rebuild': {
        // Nothing survives of the failed host's disk: a new one from the image, whatever was here.
        const s = specOf(task, 'rebuild')
        await hv.destroy(s.serverId)
        if (s.powerOnAfter) await hv.start(this.sized(s))
        else await hv.create(this.sized(s))
        return undefined
      }
      case 'live-in':
        return hv.prepareIncoming(this.sized(specOf(task, 'live-in')))
      case 'live-out': {
        const s = specOf(task, 'live-out')
        await hv.migrateOut(s.serverId, s.target, s.port)
        return undefined
      }
      case 'live-done':
        // The migration itself made the VM run here; what is left is to remember it is done.
        return undefined
      case 'console': {
        const s = specOf(task, 'console')
        return hv.console(s.serverId, s.offset)
      }
      default:
        throw new Error(`this agent does not know tasks of kind ${String((task as { kind: unknown }).kind)}`)
    }
  }

  /** Downloads the disk from the source agent into a file of its own, then makes it the VM's disk. */
  private async receiveDisk(vm: VmSpec, source: string, token: string): Promise<void> {
    const file = path.join(this.incomingDir, `${vm.serverId}.${randomBytes(6).toString('hex')}.part`)
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const bytes = await fetchDisk(source, vm.serverId, token, file, DISK_IDLE_TIMEOUT_MS)
          this.log.info({ serverId: vm.serverId, source, bytes }, 'disk received')
          break
        } catch (err) {
          if (err instanceof DiskRefused || attempt >= DISK_FETCH_ATTEMPTS || this.stopping) throw err
          this.log.warn({ serverId: vm.serverId, source, attempt, err: describe(err) }, 'disk download failed; trying again')
          await this.pause(attempt)
        }
      }
      await this.hv.adoptDisk(vm, file)
    } finally {
      await rm(file, { force: true })
    }
  }

  /** Reports an outcome until the control plane has it, or refuses it for good. */
  private async report(task: AgentTask, outcome: TaskOutcome): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.cp.report(task.id, outcome)
        await this.records.reported(task.id)
        return
      } catch (err) {
        if (err instanceof ControlPlaneError && !err.retryable) {
          this.log.error({ taskId: task.id, err: describe(err) }, 'the control plane refused the outcome of a task')
          return
        }
        // Stopping: the record keeps the outcome; the next session answers the redelivered task from it.
        if (this.stopping) return
        this.log.warn({ taskId: task.id, attempt, err: describe(err) }, 'cannot report a task yet; retrying')
        await this.pause(attempt + 1)
      }
    }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** The VM as this host runs it: the flavor's size, its memory capped by `maxVmRamMb`. */
  private sized(spec: VmSpec): VmSpec {
    const cap = this.options.maxVmRamMb
    return { serverId: spec.serverId, vcpus: spec.vcpus, ramMb: cap === undefined ? spec.ramMb : Math.min(spec.ramMb, cap), image: spec.image }
  }

  /** Runs `fn` after everything queued before it for the same server. */
  private serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(key) ?? Promise.resolve()
    const run = previous.then(fn)
    const tail = run.then(() => undefined, () => undefined)
    this.chains.set(key, tail)
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key)
    })
    return run
  }

  /** Keeps `work` in the set `stop` waits for, until it settles. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work)
    void work.then(() => this.pending.delete(work), () => this.pending.delete(work))
    return work
  }

  /** Waits before the next try (`attempt` ≥ 1 backs off; `ms` overrides), or until stopped. */
  private async pause(attempt: number, ms = backoffMs(attempt)): Promise<void> {
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => undefined)
  }
}

/** The spec of a task, typed by its kind (kinds that share a shape share a case). */
function specOf<K extends keyof AgentTaskSpecs>(task: AgentTask, _kind: K): AgentTaskSpecs[K] {
  return task.spec as AgentTaskSpecs[K]
}

/** Exponential backoff with jitter: about 250 ms, 500 ms, 1 s … up to 5 s. */
function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** Math.max(0, attempt - 1))
  return Math.round(base * (0.5 + Math.random() / 2))
}

/** The address other agents reach this one at when `--advertise` does not say. */
export function defaultAdvertise(listenHost: string, port: number): string {
  const name = listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '' ? hostname() : listenHost
  return name.includes(':') ? `[${name}]:${port}` : `${name}:${port}`
}

/** An error as one log field: the message of the control plane's errors, the whole error otherwise. */
function describe(err: unknown): unknown {
  return err instanceof ControlPlaneError ? err.message : err
}
