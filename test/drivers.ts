import type { DriverCommand, HostDriver } from '../src/compute/driver.ts'

/**
 * A driver whose operations wait until the test releases them, to hold servers in a
 * transitional state (BUILD, powering-off, …) for as long as a test needs.
 */
export class GateDriver implements HostDriver {
  private waiting: Array<{ command: DriverCommand; release: () => void }> = []

  perform(command: DriverCommand): Promise<void> {
    return new Promise((release) => this.waiting.push({ command, release }))
  }

  /** Operations currently held. */
  get held(): DriverCommand[] {
    return this.waiting.map((w) => w.command)
  }

  /** Lets every held operation finish. */
  releaseAll(): void {
    const all = this.waiting
    this.waiting = []
    for (const w of all) w.release()
  }
}
