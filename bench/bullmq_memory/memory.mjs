// BullMQ side of bench/bench_memory.py: Redis memory per retained completed or failed job.
//
//   node bench/bullmq_memory/memory.mjs <redis url> <queue> <completed|failed> <payloads.json>
//
// payloads.json is a JSON array of job payloads written by bench_memory.py, so both systems
// store the very same data. Jobs are added in bulk, run by a Worker (concurrency 50) that
// returns the same small result as the jobboard task (completed) or throws the same error
// (failed, no retry), and are all kept (removeOnComplete / removeOnFail false). Prints one
// JSON line: used_memory before and after, the job hash of one job (MEMORY USAGE), and the
// keys whose size does not grow with the number of jobs (the events stream, capped at
// 10,000 entries by default), so the caller can report the cost per job without them.
import { readFileSync } from "node:fs";
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const [url, name, mode, file] = process.argv.slice(2);
const payloads = JSON.parse(readFileSync(file, "utf8"));
const u = new URL(url);
const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
const redis = new IORedis(connection);

async function usedMemory() {
  await redis.call("MEMORY", "PURGE");
  const info = await redis.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

const queue = new Queue(name, { connection });
await queue.waitUntilReady();
// one job first, so that the queue's fixed keys (meta, id counter) exist before measuring
await queue.add("warmup", { warmup: true }, { removeOnComplete: true, removeOnFail: true });
let worker = new Worker(name, async () => null, { connection, concurrency: 1 });
for (;;) {
  const c = await queue.getJobCounts("wait", "active");
  if (c.wait + c.active === 0) break;
  await new Promise((r) => setTimeout(r, 20));
}
await worker.close();

const before = await usedMemory();
const opts = { removeOnComplete: false, removeOnFail: false, attempts: 1 };
for (let i = 0; i < payloads.length; i += 1000) {
  await queue.addBulk(payloads.slice(i, i + 1000).map((data) => ({ name: "send_email", data, opts })));
}
worker = new Worker(name, async (job) => {
  if (mode === "failed") {
    throw new Error(`SMTPRecipientsRefused: {'${job.data.to}': (550, b'5.1.1 mailbox unavailable')}`);
  }
  return { message_id: `<${job.id}@riverside.example>`, delivered_to: "smtp://mail.example:25" };
}, { connection, concurrency: 50 });
const target = payloads.length;
for (;;) {
  const c = await queue.getJobCounts("completed", "failed");
  if (c[mode] >= target) break;
  await new Promise((r) => setTimeout(r, 100));
}
await worker.close();
const after = await usedMemory();
const ids = await redis.zrange(`bull:${name}:${mode}`, 0, 0);
const oneJob = Number(await redis.call("MEMORY", "USAGE", `bull:${name}:${ids[0]}`));
const encoding = await redis.call("OBJECT", "ENCODING", `bull:${name}:${ids[0]}`);
const events = Number(await redis.call("MEMORY", "USAGE", `bull:${name}:events`) || 0);
const counts = await queue.getJobCounts("completed", "failed");
console.log(JSON.stringify({ before, after, jobs: target, one_job_hash: oneJob, encoding,
                             fixed: { events_stream: events }, counts }));
await queue.close();
await redis.quit();
