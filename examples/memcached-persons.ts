// The python-memcached read-through of `persons`, through corral on Memcached:
//
//   person = mc.get('person:' + name)
//   if person is None:
//       person = db.find_person(name)
//       mc.set('person:' + name, person, time=60)
//   mc.incr('lookups')
//
// becomes one `wrap` per person (with a ttl) and one `increment`, and gains what the loop above
// lacks: concurrent lookups of one name make one database query, across processes too (`lock`).
//
//   MEMCACHED_ADDR=127.0.0.1:11211 node --import tsx examples/memcached-persons.ts
//
// (MEMCACHED_URL=memcached://127.0.0.1:11211 works too; several servers are comma-separated.)
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache, memcachedStore } from '../src/index.ts'

interface Person {
  name: string
  city: string
  born: number
}

const servers = (process.env.MEMCACHED_URL?.replace(/^memcached:\/\//, '') || process.env.MEMCACHED_ADDR)?.split(',')
if (!servers?.length) throw new Error('set MEMCACHED_ADDR, e.g. 127.0.0.1:11211')

// The database: a table of persons behind a slow query.
const table: Person[] = [
  { name: 'Ada Lovelace', city: 'London', born: 1815 },
  { name: 'Grace Hopper', city: 'New York', born: 1906 },
  { name: 'Alan Turing', city: 'London', born: 1912 },
]
let queries = 0
async function findPerson(name: string): Promise<Person | null> {
  queries += 1
  await sleep(50)
  return table.find((p) => p.name === name) ?? null
}

const cache = createCache({
  name: 'persons',
  namespace: process.env.EXAMPLE_NAMESPACE ?? 'example',
  store: memcachedStore({ servers }),
  lock: true,
  ttl: '60s',
  // A name that is not in the table is remembered too, for a shorter time.
  negativeTtl: '10s',
})

/** `mc.get` + `db.find_person` + `mc.set(..., time=60)`, as one call. Names may hold spaces: keys are mapped safely. */
const person = (name: string) => cache.wrap(`person:${name}`, () => findPerson(name))

// 20 concurrent lookups of one name: one query.
const same = await Promise.all(Array.from({ length: 20 }, () => person('Ada Lovelace')))
console.log(`20 lookups of Ada Lovelace -> ${same[0]?.city}; queries so far: ${queries}`)

// Every person, twice: the second round is served from Memcached.
for (const round of [1, 2]) {
  for (const { name } of table) await person(name)
  console.log(`round ${round} over ${table.length} persons; queries so far: ${queries}`)
}

// A miss is cached as a miss (negative caching): asking again makes no query.
await person('Nobody')
await person('Nobody')
console.log(`Nobody twice -> ${await person('Nobody')}; queries so far: ${queries}`)

// `mc.incr('lookups')`: Memcached's own counter, created when absent.
for (let i = 0; i < 5; i++) await cache.increment('lookups')
console.log(`lookups counter: ${await cache.increment('lookups', 0)}`)

// `mc.set` / `mc.delete`: a new value replaces the cached one at once.
await cache.set('person:Alan Turing', { name: 'Alan Turing', city: 'Manchester', born: 1912 }, { ttl: '60s' })
console.log(`Alan Turing after set -> ${(await person('Alan Turing'))?.city}`)
await cache.delete('person:Alan Turing')
console.log(`Alan Turing after delete -> ${(await person('Alan Turing'))?.city}; queries so far: ${queries}`)

await cache.close()
