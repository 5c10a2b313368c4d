// The cost of the time pricing's instrumentation of the decode loop: one EngineTimeClock begin and end per evaluation
// step (src/engines/engine-time.ts), timed over 1,000,000 steps, three rounds, beside an empty loop measured in the same
// run. Prints ns per step; docs/studio.md ("Cost of local tokens") quotes it. Run after `npm run build`:
//   nice -n 19 node scripts/bench-engine-time.mjs
import { EngineTimeClock } from "../dist/engines/engine-time.js";

const steps = 1_000_000;
const clock = new EngineTimeClock();
const meter = { engineMs: 0 };
let sink = 0;
for (let round = 1; round <= 3; round++) {
  let started = performance.now();
  for (let i = 0; i < steps; i++) sink += i & 1;
  const emptyNs = ((performance.now() - started) * 1e6) / steps;
  started = performance.now();
  for (let i = 0; i < steps; i++) {
    const mark = clock.begin(1);
    meter.engineMs += clock.end(mark, 1);
  }
  const clockNs = ((performance.now() - started) * 1e6) / steps;
  console.log(`round ${round}: begin+end ${clockNs.toFixed(1)} ns per step (empty loop ${emptyNs.toFixed(1)} ns)`);
}
if (sink < 0) console.log(sink);
