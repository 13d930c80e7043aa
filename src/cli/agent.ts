/**
 * `ecsd agent`: the host agent of one host, run on that host's machine with the credential
 * `ecsd hosts add` printed for it. It drives the machine's hypervisor — QEMU (`--driver qemu`,
 * src/agent/qemu.ts) or, for tests and demos without QEMU, the fake one (`--driver fake`) — as
 * the control plane's tasks say; see src/agent/runtime.ts and docs/operations.md, "Host agents".
 */
import { availableParallelism, totalmem } from 'node:os'
import path from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { pino } from 'pino'
import type { FakeHypervisor } from '../agent/fake-hypervisor.ts'
import type { Hypervisor } from '../agent/hypervisor.ts'
import { ConfigError, readSettings } from '../config.ts'
import { createLogger, subsystem } from '../logger.ts'
import { boundedText, hostName, positiveInt } from './arguments.ts'

/** The flags of `ecsd agent`, as commander parses them. */
interface AgentFlags {
  endpoint?: string
  host: string
  accessKey?: string
  secretKey?: string
  stateDir: string
  driver: 'qemu' | 'fake'
  imageDir: string
  listen: { host: string; port: number }
  advertise?: string
  maxVmRamMb?: number
  vcpus?: number
  ramMb?: number
  faultDomain?: string
  machineCapacity?: boolean
  ca?: string
  logLevel: string
}

// The limits of the agent API's registration schema (src/api/agent/routes.ts).
const MAX_VCPUS = 100_000
const MAX_RAM_MB = 1_000_000_000
const MAX_FAULT_DOMAIN_LENGTH = 64

const HELP = `
The credential is the host's own, printed once by \`ecsd hosts add NAME … --json\` (access_key,
secret_key); prefer ECSD_SECRET_KEY to --secret-key, since flags show in the process list.
ECSD_ENDPOINT, ECSD_ACCESS_KEY, ECSD_SECRET_KEY and ECSD_CA_FILE stand in for their flags.

The agent keeps in --state-dir what must survive its restart: a record of every task (so none
runs twice), the disk grants of cold moves in progress, and its hypervisor's VMs. Other agents
fetch disks from it at --advertise (default: the --listen address; the machine's name when it
listens on every interface). Log lines go to stderr as JSON.`

/** Registers `ecsd agent`. */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the host agent of one host: register, heartbeat, and carry out the control plane\'s tasks on this machine\'s hypervisor')
    .option('--endpoint <url>', 'the control plane, http(s)://… (env ECSD_ENDPOINT)')
    .requiredOption('--host <name>', 'the host this agent runs for, as `ecsd hosts add` named it', hostName)
    .option('--access-key <ak>', 'the host\'s agent access key (env ECSD_ACCESS_KEY)')
    .option('--secret-key <sk>', 'its secret key (env ECSD_SECRET_KEY, the better way)')
    .requiredOption('--state-dir <dir>', 'where the agent keeps its task records, disk grants and VMs')
    .addOption(new Option('--driver <driver>', 'the hypervisor: qemu, or fake (no VMs: records and a serial log per server)').choices(['qemu', 'fake']).default('qemu'))
    .option('--image-dir <dir>', 'the images, one directory per image id (qemu)', './images')
    .addOption(new Option('--listen <addr:port>', 'where the disk server listens (port 0: any free port)').argParser(listenAddress).default(listenAddress('0.0.0.0:7070'), '0.0.0.0:7070'))
    .option('--advertise <host:port>', 'where other agents reach this one (default: the --listen address)', advertiseAddress)
    .option('--max-vm-ram-mb <n>', 'cap the memory a VM really gets (the control plane still accounts the flavor\'s)', positiveInt(MAX_RAM_MB))
    .option('--machine-capacity', 'report this machine\'s CPUs and memory as the host\'s capacity (instead of the host record\'s)')
    .option('--vcpus <n>', 'report the machine\'s vCPUs instead of the host record\'s', positiveInt(MAX_VCPUS))
    .option('--ram-mb <n>', 'report the machine\'s RAM (MiB) instead of the host record\'s', positiveInt(MAX_RAM_MB))
    .option('--fault-domain <fd>', 'report the rack the machine is in instead of the host record\'s', boundedText(MAX_FAULT_DOMAIN_LENGTH))
    .option('--ca <file>', 'trust only this PEM CA for an https:// --endpoint (env ECSD_CA_FILE; default: the public roots)')
    .option('--log-level <level>', 'pino log level', logLevel, 'info')
    .addHelpText('after', HELP)
    .action(async (flags: AgentFlags) => {
      await runAgentCommand(flags, process.env)
    })
}

async function runAgentCommand(flags: AgentFlags, rawEnv: NodeJS.ProcessEnv): Promise<void> {
  const env = readSettings(rawEnv)
  const endpoint = flags.endpoint ?? env.ECSD_ENDPOINT
  const accessKey = flags.accessKey ?? env.ECSD_ACCESS_KEY
  const secretKey = flags.secretKey ?? env.ECSD_SECRET_KEY
  if (endpoint === undefined) throw new ConfigError('give the control plane: --endpoint URL (or ECSD_ENDPOINT)')
  if (accessKey === undefined || secretKey === undefined) {
    throw new ConfigError('give the host\'s agent credential: --access-key and --secret-key (or ECSD_ACCESS_KEY and ECSD_SECRET_KEY)')
  }
  if (!/^[^\s,]+$/.test(accessKey)) throw new ConfigError(`--access-key / ECSD_ACCESS_KEY is not an access key: "${accessKey}"`)
  if (flags.machineCapacity && (flags.vcpus !== undefined || flags.ramMb !== undefined)) {
    throw new ConfigError('give --machine-capacity or --vcpus/--ram-mb, not both')
  }
  // The machine's memory less what its own system needs is not known here: operators who keep
  // some back say so with --ram-mb.
  const vcpus = flags.machineCapacity ? availableParallelism() : flags.vcpus
  const ramMb = flags.machineCapacity ? Math.floor(totalmem() / (1024 * 1024)) : flags.ramMb
  const stateDir = path.resolve(flags.stateDir)
  const logger = createLogger(flags.logLevel, process.stderr).child({ host: flags.host })

  let fake: FakeHypervisor | undefined
  let hypervisor: Hypervisor
  // Loaded when the agent runs, not when the command line is parsed.
  const { AgentRefused, runAgent } = await import('../agent/runtime.ts')
  if (flags.driver === 'fake') {
    const { createFakeHypervisor } = await import('../agent/fake-hypervisor.ts')
    fake = await createFakeHypervisor({ dir: stateDir, incomingHost: flags.listen.host, logger: subsystem(logger, 'hypervisor') })
    hypervisor = fake
  } else {
    const { createQemuHypervisor } = await import('../agent/qemu.ts')
    hypervisor = await createQemuHypervisor({
      stateDir, imageDir: path.resolve(flags.imageDir), logger: subsystem(logger, 'hypervisor'),
      ...(flags.maxVmRamMb === undefined ? {} : { maxVmRamMb: flags.maxVmRamMb }),
    })
  }

  const agent = await runAgent({
    endpoint, caFile: flags.ca ?? env.ECSD_CA_FILE, hostName: flags.host, credential: { accessKey, secretKey },
    stateDir, hypervisor, listen: flags.listen, advertise: flags.advertise,
    vcpus, ramMb, faultDomain: flags.faultDomain, maxVmRamMb: flags.maxVmRamMb,
    logger: subsystem(logger, 'agent'),
  })
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down')
    const fallback = setTimeout(() => process.exit(1), 15_000)
    fallback.unref()
    void agent.stop()
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  try {
    await agent.finished
  } catch (err) {
    if (!(err instanceof AgentRefused)) throw err
    logger.fatal({ err: err.message }, 'giving up')
    process.stderr.write(`ecsd: ${err.message}\n`)
    process.exitCode = 1
  } finally {
    await fake?.close()
  }
}

/** `ADDR:PORT`, an IPv6 address in brackets (`[::]:7070`). */
function listenAddress(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(value)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw new InvalidArgumentError('not ADDR:PORT, e.g. 0.0.0.0:7070, 127.0.0.1:0 or [::]:7070')
  return { host: m[1] ?? m[2]!, port }
}

/** `HOST:PORT` as other agents reach this one (what the registration accepts). */
function advertiseAddress(value: string): string {
  const m = /^[^\s/]+:(\d{1,5})$/.exec(value)
  const port = m ? Number(m[1]) : NaN
  if (!m || value.length > 255 || port < 1 || port > 65535) throw new InvalidArgumentError('not HOST:PORT, e.g. host-1.example.net:7070')
  return value
}

function logLevel(value: string): string {
  if (value !== 'silent' && !(value in pino.levels.values)) throw new InvalidArgumentError(`not a log level (${[...Object.keys(pino.levels.values), 'silent'].join(', ')})`)
  return value
}
