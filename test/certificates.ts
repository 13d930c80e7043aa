import { writeFileSync } from 'node:fs'
import path from 'node:path'
import selfsigned from 'selfsigned'

/** A test PKI as PEM files: a CA, a server certificate it signed, and a CA that signed nothing here. */
export interface TestCertificates {
  /** The CA that signed `certFile`: what `--ca` must be given. */
  caFile: string
  /** The server's certificate, for 127.0.0.1, ::1 and localhost. */
  certFile: string
  /** Its private key (mode 0600). */
  keyFile: string
  /** Another CA: a wrong `--ca`. */
  otherCaFile: string
}

/** What a CA certificate carries. */
const CA_EXTENSIONS = [
  { name: 'basicConstraints' as const, cA: true, critical: true },
  { name: 'keyUsage' as const, keyCertSign: true, cRLSign: true, critical: true },
]

/**
 * Generates a CA and a server certificate signed by it, as an operator would have them (EC P-256,
 * SHA-256, valid from an hour ago for a day), and writes them into `dir`. Nothing outside
 * package.json is needed (no openssl): `selfsigned` builds the certificates in Node.
 */
export async function generateCertificates(dir: string): Promise<TestCertificates> {
  // An hour back: a clock a little behind this one still finds the certificate valid.
  const notBeforeDate = new Date(Date.now() - 3600_000)
  const notAfterDate = new Date(Date.now() + 24 * 3600_000)
  const common = { keyType: 'ec' as const, algorithm: 'sha256', notBeforeDate, notAfterDate }
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'ecsd test CA' }], { ...common, extensions: CA_EXTENSIONS })
  const other = await selfsigned.generate([{ name: 'commonName', value: 'ecsd test CA (another)' }], { ...common, extensions: CA_EXTENSIONS })
  const server = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    ...common,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  })
  const files: TestCertificates = {
    caFile: path.join(dir, 'ca.pem'),
    certFile: path.join(dir, 'server.pem'),
    keyFile: path.join(dir, 'server.key'),
    otherCaFile: path.join(dir, 'other-ca.pem'),
  }
  writeFileSync(files.caFile, ca.cert)
  writeFileSync(files.certFile, server.cert)
  writeFileSync(files.keyFile, server.private, { mode: 0o600 })
  writeFileSync(files.otherCaFile, other.cert)
  return files
}
