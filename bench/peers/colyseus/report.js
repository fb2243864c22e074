// Prints the side-by-side table of one run of run.sh from the driver's JSON files.
//   node report.js maratang.json colyseus.json
'use strict';

const fs = require('fs');

const [ma, co] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const k = (n) => Math.round(n).toLocaleString('en-US');
const pct = (u) => `${Math.round(100 * u)} %`;

console.log('');
console.log('| shape | server | deliveries/s | server CPU | deliveries per server CPU-s | client CPU | rest of machine |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
const ratios = [];
for (let i = 0; i < ma.results.length; ++i) {
  const a = ma.results[i];
  const b = co.results.find((r) => r.rooms === a.rooms && r.size === a.size);
  const shape = `${a.rooms} rooms of ${a.size}`;
  for (const [name, r] of [['maratang', a], ['colyseus', b]]) {
    if (!r) continue;
    console.log(
      `| ${shape} | ${name} | ${k(r.deliveriesPerSec)} | ${pct(r.serverUtil)} | ` +
        `${k(r.deliveriesPerServerCpuSec)} | ${pct(r.clientUtil)} | ${pct(r.otherUtil)} |`,
    );
  }
  if (b) {
    ratios.push(
      `${shape}: Maratang/Colyseus deliveries/s ${(a.deliveriesPerSec / b.deliveriesPerSec).toFixed(2)}x, ` +
        `per server CPU-second ${(a.deliveriesPerServerCpuSec / b.deliveriesPerServerCpuSec).toFixed(2)}x`,
    );
  }
}
console.log('');
for (const r of ratios) console.log(r);
