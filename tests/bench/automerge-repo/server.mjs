// The automerge-repo side of server/benches/sync.rs: a sync server as automerge-repo
// users run it (Repo + NodeFS storage + WebSocket server adapter, sharePolicy false).
//
//   node server.mjs import <docs-dir> <count> <storage-dir> <urls-file>
//     imports <docs-dir>/<i>.bin (automerge saved documents) into a Repo stored in
//     <storage-dir>, flushes it, writes one automerge URL per line to <urls-file>, exits.
//   node server.mjs serve <storage-dir> <port>
//     serves that storage on ws://127.0.0.1:<port>; prints "listening" when ready. When its
//     stdin closes it prints {"sent_bytes","sent_msgs","received_bytes","received_msgs"}
//     (WebSocket payloads, all connections) and exits.
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"
import fs from "node:fs"
import path from "node:path"

const [mode, ...args] = process.argv.slice(2)

if (mode === "import") {
  const [docsDir, count, storageDir, urlsFile] = args
  const repo = new Repo({ storage: new NodeFSStorageAdapter(storageDir), network: [] })
  const urls = []
  for (let i = 0; i < Number(count); i++) {
    const bytes = fs.readFileSync(path.join(docsDir, `${i}.bin`))
    const handle = repo.import(new Uint8Array(bytes))
    urls.push(handle.url)
  }
  await repo.flush()
  fs.writeFileSync(urlsFile, urls.join("\n") + "\n")
  await repo.shutdown()
  process.exit(0)
} else if (mode === "serve") {
  const [storageDir, port] = args
  const stats = { sent_bytes: 0, sent_msgs: 0, received_bytes: 0, received_msgs: 0 }
  const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(port) })
  // Registered before the adapter's own listener: counts every payload both ways.
  wss.on("connection", (ws) => {
    const send = ws.send.bind(ws)
    ws.send = (data, ...rest) => {
      stats.sent_bytes += data.byteLength ?? data.length
      stats.sent_msgs += 1
      return send(data, ...rest)
    }
    ws.on("message", (data) => {
      stats.received_bytes += data.byteLength ?? data.length
      stats.received_msgs += 1
    })
  })
  wss.on("listening", () => console.log("listening"))
  new Repo({
    network: [new WebSocketServerAdapter(wss)],
    storage: new NodeFSStorageAdapter(storageDir),
    sharePolicy: async () => false,
  })
  process.stdin.resume()
  process.stdin.on("end", () => {
    console.log(JSON.stringify(stats))
    process.exit(0)
  })
} else {
  console.error("usage: server.mjs import <docs-dir> <count> <storage-dir> <urls-file> | serve <storage-dir> <port>")
  process.exit(2)
}
