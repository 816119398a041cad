// The automerge-repo client of server/benches/sync.rs: a fresh Repo with NodeFS storage
// in <storage-dir> connects to ws://127.0.0.1:<port> and finds every URL of <urls-file>,
// <batch> at a time (default 100: with all 2,000 at once, requests of the bench's task
// documents outlive automerge-repo's 60 s find timeout and fail as "unavailable"), waiting
// until each document is ready; then flushes its storage.
// Prints {"ready": <documents ready>, "unavailable": <finds that failed>, "ready_ms": ..., "flushed_ms": ...}, both timed from
// before the Repo (and its connection) is created.
//
//   node client.mjs <port> <urls-file> <storage-dir> [<batch>]
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import fs from "node:fs"

const [port, urlsFile, storageDir, batchArg] = process.argv.slice(2)
const batch = Number(batchArg ?? 100)
const urls = fs.readFileSync(urlsFile, "utf8").split("\n").filter(Boolean)
const t0 = performance.now()
const repo = new Repo({
  network: [new WebSocketClientAdapter(`ws://127.0.0.1:${port}`)],
  storage: new NodeFSStorageAdapter(storageDir),
})
let ready = 0
let unavailable = 0
for (let i = 0; i < urls.length; i += batch) {
  const found = await Promise.allSettled(urls.slice(i, i + batch).map((u) => repo.find(u)))
  for (const f of found) {
    if (f.status === "fulfilled" && f.value.isReady()) ready += 1
    else unavailable += 1
  }
}
const readyMs = performance.now() - t0
await repo.flush()
const flushedMs = performance.now() - t0
console.log(JSON.stringify({ ready, unavailable, batch, ready_ms: readyMs, flushed_ms: flushedMs }))
await repo.shutdown()
process.exit(0)
