import type { DriverCommand, HostDriver } from '../src/compute/driver.ts'

/**
 * A driver whose operations wait until the test releases them, to hold servers in a
 * transitional state (BUILD, powering-off, …) for as long as a test needs.
 */
export class GateDriver implements HostDriver {
  private waiting: Array<{ command: DriverCommand; release: () => void }> = []
  private open = false

  perform(command: DriverCommand): Promise<void> {
    if (this.open) return Promise.resolve()
    return new Promise((release) => this.waiting.push({ command, release }))
  }

  /** Holds every later operation again (those already released stay released). */
  hold(): void {
    this.open = false
  }

  /** Operations currently held. */
  get held(): DriverCommand[] {
    return this.waiting.map((w) => w.command)
  }

  /**
   * Lets every held operation finish, and every later one pass at once (a job may not have
   * reached the driver yet when the test releases it).
   */
  releaseAll(): void {
    this.open = true
    const all = this.waiting
    this.waiting = []
    for (const w of all) w.release()
  }
}
