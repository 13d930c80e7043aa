/**
 * CPU profiles of a server child process over exactly one measured phase, taken through the V8
 * inspector (the server runs with `--inspect=127.0.0.1:0`): `Profiler.start` when the phase
 * begins, `Profiler.stop` when it ends, so that start-up, fixtures and warm-up stay out of it
 * and the samples divide by the phase's request count. `--cpu-prof` profiles a whole process
 * lifetime, which is why it is not used for budgets.
 */
import { WebSocket } from 'undici'

/** A V8 CPU profile (`Profiler.Profile` of the DevTools protocol), the fields used here. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** A connection to one process's inspector. */
export class InspectorSession {
  private nextId = 1
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>()

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } }
      if (message.id === undefined) return
      const waiter = this.waiting.get(message.id)
      this.waiting.delete(message.id)
      if (message.error) waiter?.reject(new Error(message.error.message))
      else waiter?.resolve(message.result)
    })
  }

  /** Connects to the inspector a server announced (`Debugger listening on ws://…`). */
  static async connect(url: string): Promise<InspectorSession> {
    const socket = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true })
      socket.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), { once: true })
    })
    const session = new InspectorSession(socket)
    await session.call('Profiler.enable')
    return session
  }

  private call(method: string, params: object = {}): Promise<unknown> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.socket.send(JSON.stringify({ id, method, params }))
    })
  }

  /** Starts sampling every `intervalUs` microseconds. */
  async start(intervalUs = 250): Promise<void> {
    await this.call('Profiler.setSamplingInterval', { interval: intervalUs })
    await this.call('Profiler.start')
  }

  /** Stops sampling and returns the profile since `start`. */
  async stop(): Promise<CpuProfile> {
    const result = (await this.call('Profiler.stop')) as { profile: CpuProfile }
    return result.profile
  }

  close(): void {
    this.socket.close()
  }
}

/** The inspector URL a process printed to its log, if it has printed it yet. */
export function inspectorUrl(log: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(log)?.[1]
}
