// What the integrity page's proof of work costs a reporter: runs the page's own pow.js
// (server/web/integrity/pow.js) in Node and prints the time per stamp and the hash rate.
// Usage: node tests/bench/integrity/pow.cjs [bits=16] [stamps=20]
"use strict";
const path = require("path");
const pow = require(path.join(__dirname, "../../../server/web/integrity/pow.js"));
const bits = Number(process.argv[2] || 16);
const n = Number(process.argv[3] || 20);
let hashes = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  const stamp = pow.solve(bits, 29000000, "bench" + i, 0);
  hashes += Number(stamp.split(":")[3]) + 1;
}
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(
  `pow ${bits} bits: ${n} stamps, ${(ms / n).toFixed(0)} ms per stamp on average, ` +
    `${(hashes / n).toFixed(0)} hashes per stamp, ${(hashes / ms).toFixed(0)}k SHA-256/s`
);
