import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { affinityFilter } from '../../src/placement/filters/affinity.ts'
import { antiAffinityFilter } from '../../src/placement/filters/anti-affinity.ts'
import { availabilityZoneFilter } from '../../src/placement/filters/availability-zone.ts'
import { capacityFilter } from '../../src/placement/filters/capacity.ts'
import { faultDomainSpreadFilter } from '../../src/placement/filters/fault-domain-spread.ts'
import { hostStateFilter } from '../../src/placement/filters/host-state.ts'
import { differentHostFilter, requestedHostFilter } from '../../src/placement/filters/requested-host.ts'
import { tenancyFilter } from '../../src/placement/filters/tenancy.ts'
import { softAffinityScore, softAntiAffinityScore } from '../../src/placement/scores/group.ts'
import { packScore, spreadScore } from '../../src/placement/scores/index.ts'
import type { HostCandidate, HostFilter, PlacementRequest } from '../../src/placement/types.ts'

export function fakeHost(over: Partial<HostCandidate> = {}): HostCandidate {
  return { id: 'h1', name: 'h1', az: 'az1', vcpus: 32, ram_mb: 131072, free_vcpus: 32, free_ram_mb: 131072, state: 'up', enabled: 1, dedicated_to: null, fault_domain: null, ...over }
}

export function fakeRequest(over: Partial<PlacementRequest> = {}): PlacementRequest {
  return { vcpus: 2, ramMb: 4096, az: 'az1', groupPolicy: undefined, groupHostIds: new Set(), subject: 'test', ...over }
}

const cases: Array<{ name: string; filter: HostFilter; host: Partial<HostCandidate>; req: Partial<PlacementRequest>; passes: boolean }> = [
  { name: 'up and enabled', filter: hostStateFilter, host: {}, req: {}, passes: true },
  { name: 'down', filter: hostStateFilter, host: { state: 'down' }, req: {}, passes: false },
  { name: 'disabled', filter: hostStateFilter, host: { enabled: 0 }, req: {}, passes: false },
  { name: 'same zone', filter: availabilityZoneFilter, host: { az: 'az1' }, req: { az: 'az1' }, passes: true },
  { name: 'other zone', filter: availabilityZoneFilter, host: { az: 'az2' }, req: { az: 'az1' }, passes: false },
  { name: 'any zone', filter: availabilityZoneFilter, host: { az: 'az2' }, req: { az: undefined }, passes: true },
  { name: 'exact fit', filter: capacityFilter, host: { free_vcpus: 2, free_ram_mb: 4096 }, req: {}, passes: true },
  { name: 'one vCPU short', filter: capacityFilter, host: { free_vcpus: 1 }, req: {}, passes: false },
  { name: 'one MiB short', filter: capacityFilter, host: { free_ram_mb: 4095 }, req: {}, passes: false },
  { name: 'host unused by the group', filter: antiAffinityFilter, host: { id: 'h1' }, req: { groupPolicy: 'anti-affinity', groupHostIds: new Set(['h2', 'h3']) }, passes: true },
  { name: 'host used by a member', filter: antiAffinityFilter, host: { id: 'h2' }, req: { groupPolicy: 'anti-affinity', groupHostIds: new Set(['h2', 'h3']) }, passes: false },
  { name: 'no group', filter: antiAffinityFilter, host: {}, req: {}, passes: true },
  { name: 'max 2 per host: a host with one member', filter: antiAffinityFilter, host: { id: 'h2' }, req: { groupPolicy: 'anti-affinity', maxServerPerHost: 2, groupHostIds: new Set(['h2', 'h3']), groupHostCounts: new Map([['h2', 1], ['h3', 2]]) }, passes: true },
  { name: 'max 2 per host: a host with two members', filter: antiAffinityFilter, host: { id: 'h3' }, req: { groupPolicy: 'anti-affinity', maxServerPerHost: 2, groupHostIds: new Set(['h2', 'h3']), groupHostCounts: new Map([['h2', 1], ['h3', 2]]) }, passes: false },
  { name: 'max 2 per host: a member and a move away from the host', filter: antiAffinityFilter, host: { id: 'h2' }, req: { groupPolicy: 'anti-affinity', maxServerPerHost: 2, groupHostIds: new Set(['h2']), groupHostCounts: new Map([['h2', 2]]) }, passes: false },
  { name: 'max 3 per host: a host the group does not use', filter: antiAffinityFilter, host: { id: 'h9' }, req: { groupPolicy: 'anti-affinity', maxServerPerHost: 3, groupHostIds: new Set(['h2']), groupHostCounts: new Map([['h2', 3]]) }, passes: true },
  { name: 'a soft-anti-affinity group never excludes', filter: antiAffinityFilter, host: { id: 'h2' }, req: { groupPolicy: 'soft-anti-affinity', groupHostIds: new Set(['h2']) }, passes: true },
  { name: 'an affinity group is not anti-affinity', filter: antiAffinityFilter, host: { id: 'h2' }, req: { groupPolicy: 'affinity', groupHostIds: new Set(['h2']) }, passes: true },
  { name: 'the host of the group', filter: affinityFilter, host: { id: 'h2' }, req: { groupPolicy: 'affinity', groupHostIds: new Set(['h2']) }, passes: true },
  { name: 'another host than the group\'s', filter: affinityFilter, host: { id: 'h1' }, req: { groupPolicy: 'affinity', groupHostIds: new Set(['h2']) }, passes: false },
  { name: 'the first member goes anywhere', filter: affinityFilter, host: { id: 'h1' }, req: { groupPolicy: 'affinity', groupHostIds: new Set() }, passes: true },
  { name: 'an anti-affinity group is not affinity', filter: affinityFilter, host: { id: 'h1' }, req: { groupPolicy: 'anti-affinity', groupHostIds: new Set(['h2']) }, passes: true },
  { name: 'a soft-affinity group never excludes', filter: affinityFilter, host: { id: 'h1' }, req: { groupPolicy: 'soft-affinity', groupHostIds: new Set(['h2']) }, passes: true },
  { name: 'shared host, shared placement', filter: tenancyFilter, host: {}, req: {}, passes: true },
  { name: 'dedicated host, shared placement', filter: tenancyFilter, host: { dedicated_to: 'p1' }, req: {}, passes: false },
  { name: 'own dedicated host', filter: tenancyFilter, host: { dedicated_to: 'p1' }, req: { dedicatedTo: 'p1' }, passes: true },
  { name: "another project's dedicated host", filter: tenancyFilter, host: { dedicated_to: 'p2' }, req: { dedicatedTo: 'p1' }, passes: false },
  { name: 'shared host, dedicated placement', filter: tenancyFilter, host: {}, req: { dedicatedTo: 'p1' }, passes: false },
  { name: 'the named host', filter: requestedHostFilter, host: { id: 'h1' }, req: { requestedHostId: 'h1' }, passes: true },
  { name: 'another host than the named one', filter: requestedHostFilter, host: { id: 'h2' }, req: { requestedHostId: 'h1' }, passes: false },
  { name: 'no host named', filter: requestedHostFilter, host: {}, req: {}, passes: true },
  { name: 'the host being left', filter: differentHostFilter, host: { id: 'h1' }, req: { avoidHostIds: new Set(['h1']) }, passes: false },
  { name: 'another host than the one being left', filter: differentHostFilter, host: { id: 'h2' }, req: { avoidHostIds: new Set(['h1']) }, passes: true },
  { name: 'a fault domain no other member uses', filter: faultDomainSpreadFilter, host: { fault_domain: 'rack-3' }, req: { groupHostIds: new Set(['h2', 'h3']), groupFaultDomains: new Set(['rack-1', 'rack-2']) }, passes: true },
  { name: 'a fault domain another member uses', filter: faultDomainSpreadFilter, host: { fault_domain: 'rack-2' }, req: { groupHostIds: new Set(['h2', 'h3']), groupFaultDomains: new Set(['rack-1', 'rack-2']) }, passes: false },
  { name: 'a host without a fault domain is its own', filter: faultDomainSpreadFilter, host: { id: 'h1', fault_domain: null }, req: { groupHostIds: new Set(['h2']), groupFaultDomains: new Set(['rack-1']) }, passes: true },
  { name: 'a held host without a fault domain', filter: faultDomainSpreadFilter, host: { id: 'h2', fault_domain: null }, req: { groupHostIds: new Set(['h2']), groupFaultDomains: new Set() }, passes: false },
  { name: 'a group that does not spread', filter: faultDomainSpreadFilter, host: { id: 'h2', fault_domain: 'rack-1' }, req: { groupHostIds: new Set(['h2']) }, passes: true },
  { name: 'the first member of a spreading group', filter: faultDomainSpreadFilter, host: { fault_domain: 'rack-1' }, req: { groupFaultDomains: new Set() }, passes: true },
]

describe('filters (pure)', () => {
  for (const c of cases) {
    test(`${c.filter.name}: ${c.name}`, () => {
      assert.equal(c.filter.passes(fakeHost(c.host), fakeRequest(c.req)), c.passes)
    })
  }
  test('filters describe themselves for the diagnosis', () => {
    const req = fakeRequest({ groupPolicy: 'anti-affinity', groupHostIds: new Set(['a', 'b']) })
    assert.equal(availabilityZoneFilter.describe(req), 'AvailabilityZone(az1)')
    assert.equal(capacityFilter.describe(req), 'Capacity(2 vCPU, 4096 MiB)')
    assert.equal(antiAffinityFilter.describe(req), 'AntiAffinity(2 hosts used by other members)')
    assert.equal(tenancyFilter.describe(req), 'Tenancy(shared pool)')
    assert.equal(requestedHostFilter.describe(req), undefined, 'a filter with nothing to say is left out')
    assert.equal(requestedHostFilter.describe(fakeRequest({ requestedHostId: 'h9' })), 'RequestedHost(h9)')
    assert.equal(faultDomainSpreadFilter.describe(req), undefined, 'a group that does not spread has no fault-domain line')
    assert.equal(faultDomainSpreadFilter.describe(fakeRequest({ groupHostIds: new Set(['a', 'b']), groupFaultDomains: new Set(['rack-1', 'rack-2']) })), 'FaultDomainSpread(2 fault domains used by other members)')
  })

  test('group filters describe their policy and rule, and say nothing for other policies', () => {
    const counts = new Map([['a', 2], ['b', 1]])
    assert.equal(antiAffinityFilter.describe(fakeRequest({ groupPolicy: 'anti-affinity', maxServerPerHost: 2, groupHostIds: new Set(['a', 'b']), groupHostCounts: counts })), 'AntiAffinity(1 hosts holding 2 members, the most one host may)')
    assert.equal(antiAffinityFilter.describe(fakeRequest({ groupPolicy: 'soft-anti-affinity', groupHostIds: new Set(['a']) })), undefined)
    assert.equal(antiAffinityFilter.describe(fakeRequest()), undefined, 'no group, no line')
    assert.equal(affinityFilter.describe(fakeRequest({ groupPolicy: 'affinity', groupHostIds: new Set(['h7']) })), 'Affinity(the host of the group: h7)')
    assert.equal(affinityFilter.describe(fakeRequest({ groupPolicy: 'affinity' })), 'Affinity(first member: any host)')
    assert.equal(affinityFilter.describe(fakeRequest({ groupPolicy: 'anti-affinity', groupHostIds: new Set(['h7']) })), undefined)
  })

  test('the SQL predicate of a group filter names exactly the hosts the pure filter refuses', () => {
    const req = fakeRequest({ groupPolicy: 'anti-affinity', maxServerPerHost: 2, groupHostIds: new Set(['a', 'b', 'c']), groupHostCounts: new Map([['a', 2], ['b', 1], ['c', 3]]) })
    const refused = ['a', 'b', 'c', 'd'].filter((id) => !antiAffinityFilter.passes(fakeHost({ id }), req))
    assert.deepEqual(refused, ['a', 'c'])
  })
})

describe('group scores (soft policies)', () => {
  const req = (policy: 'soft-affinity' | 'soft-anti-affinity') =>
    fakeRequest({ groupPolicy: policy, groupHostIds: new Set(['one', 'two', 'moving']), groupHostCounts: new Map([['one', 1], ['two', 2], ['moving', 1]]) })

  test('soft-affinity: the more members a host holds, the better; an empty host scores 0', () => {
    const r = req('soft-affinity')
    const [none, one, two] = ['none', 'one', 'two'].map((id) => softAffinityScore.score(fakeHost({ id }), r))
    assert.equal(none, 0)
    assert.ok(two! > one! && one! > none!, `${two} > ${one} > ${none}`)
  })

  test('soft-anti-affinity: the fewer members a host holds, the better; an empty host scores 100', () => {
    const r = req('soft-anti-affinity')
    const [none, one, two] = ['none', 'one', 'two'].map((id) => softAntiAffinityScore.score(fakeHost({ id }), r))
    assert.equal(none, 100)
    assert.ok(none! > one! && one! > two!, `${none} > ${one} > ${two}`)
  })

  test('a move away from a host counts like a member on it', () => {
    const r = req('soft-anti-affinity')
    assert.equal(softAntiAffinityScore.score(fakeHost({ id: 'moving' }), r), softAntiAffinityScore.score(fakeHost({ id: 'one' }), r))
  })

  test('scores stay within 0–100 however many members a host holds', () => {
    for (const n of [0, 1, 5, 1000]) {
      const r = fakeRequest({ groupHostIds: new Set(['h1']), groupHostCounts: new Map([['h1', n]]) })
      for (const s of [softAffinityScore, softAntiAffinityScore]) {
        const v = s.score(fakeHost({ id: 'h1' }), r)
        assert.ok(v >= 0 && v <= 100, `${s.name} with ${n} members: ${v}`)
      }
    }
  })
})

describe('scores', () => {
  test('spread prefers the emptier host, pack the fuller, both within 0–100', () => {
    const empty = fakeHost()
    const half = fakeHost({ free_ram_mb: 65536 })
    const req = fakeRequest()
    assert.ok(spreadScore.score(empty, req) > spreadScore.score(half, req))
    assert.ok(packScore.score(half, req) > packScore.score(empty, req))
    for (const s of [spreadScore, packScore]) {
      for (const h of [empty, half]) {
        const v = s.score(h, req)
        assert.ok(v >= 0 && v <= 100, `${s.name} ${v}`)
      }
    }
  })
})
