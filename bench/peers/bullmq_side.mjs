// BullMQ side of bench/peers/run.py: one phase per run, one JSON line on stdout.
//
//   node bullmq_side.mjs <redis url> <queue> enqueue <n>          one add() at a time, awaited
//   node bullmq_side.mjs <redis url> <queue> bulk <n> <batch>     addBulk() of <batch> jobs
//   node bullmq_side.mjs <redis url> <queue> drain <n> <concurrency>
//
// Jobs are no-ops with the same small payload as the Python sides; completed jobs are kept
// (BullMQ's default, as jobboard's bench configuration). The drain counts completions from
// the worker's own "completed" events (no Redis polling).
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const [url, name, phase, nArg, extra] = process.argv.slice(2);
const n = Number(nArg);
// BullMQ 6 takes a ready client in an ES module (ioredis is an optional peer of it).
const connection = new IORedis(url, { maxRetriesPerRequest: null });

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

if (phase === "enqueue" || phase === "bulk") {
  const queue = new Queue(name, { connection });
  await queue.waitUntilReady();
  await queue.add("noop", { i: -1 }); // first call: connection and script load, not timed
  const t0 = performance.now();
  if (phase === "enqueue") {
    for (let i = 0; i < n; i++) await queue.add("noop", { i });
  } else {
    const batch = Number(extra || 1000);
    for (let i = 0; i < n; i += batch) {
      const jobs = [];
      for (let j = i; j < Math.min(n, i + batch); j++) jobs.push({ name: "noop", data: { i: j } });
      await queue.addBulk(jobs);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  out({ rate: n / seconds, seconds });
  await queue.close();
  connection.disconnect();
} else if (phase === "drain") {
  const concurrency = Number(extra || 1);
  const total = n + 1; // the untimed first job of the enqueue phase is drained too
  let done = 0;
  let t0 = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const worker = new Worker(name, async () => null, { connection, concurrency, autorun: false });
  worker.on("completed", () => {
    done += 1;
    if (done === total) finish(performance.now());
  });
  await worker.waitUntilReady();
  t0 = performance.now();
  worker.run();
  const t1 = await finished;
  const seconds = (t1 - t0) / 1000;
  out({ rate: total / seconds, seconds });
  await worker.close();
  connection.disconnect();
} else {
  console.error(`unknown phase ${phase}`);
  process.exit(2);
}
