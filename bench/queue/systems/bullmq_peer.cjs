// BullMQ (Node): the same command line as the Python systems (see _cli.py):
//   node bullmq_peer.cjs --url URL setup | enqueue --n N | worker --out FILE | produce --rate R --seconds S
// Modules come from bench/.peers/node/node_modules (NODE_PATH). Defaults kept (completed jobs
// are retained, as BullMQ does out of the box); 50 concurrent jobs per worker process.
'use strict';
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');

const QUEUE = 'bench';
const CONCURRENCY = 50;
const BULK = 1000;

function nowS() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

function parse(argv) {
  const out = { command: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      out[a.slice(2)] = argv[++i];
    } else if (!out.command) {
      out.command = a;
    }
  }
  return out;
}

function connection(url) {
  return new IORedis(url, { maxRetriesPerRequest: null });
}

async function enqueue(url, n) {
  const conn = connection(url);
  const queue = new Queue(QUEUE, { connection: conn });
  for (let start = 0; start < n; start += BULK) {
    const ts = nowS();
    const jobs = [];
    for (let i = 0; i < Math.min(BULK, n - start); i++) jobs.push({ name: 'noop', data: { ts } });
    await queue.addBulk(jobs);
  }
  await queue.close();
  await conn.quit();
}

function worker(url, out) {
  const fh = fs.openSync(out, 'a');
  let pending = [];
  setInterval(() => {
    if (pending.length) {
      fs.writeSync(fh, pending.join(''));
      pending = [];
    }
  }, 20);
  const conn = connection(url);
  const w = new Worker(
    QUEUE,
    async (job) => {
      const t = nowS().toFixed(6);
      pending.push(`${job.data.ts.toFixed(6)} ${t} ${t}\n`);
    },
    { connection: conn, concurrency: CONCURRENCY },
  );
  w.on('error', (err) => console.error(err));
}

const TICK_MS = 1;

async function produce(url, rate, seconds) {
  const conn = connection(url);
  const queue = new Queue(QUEUE, { connection: conn });
  // the schedule of _cli.schedule: at most one call per 1 ms tick, with every job due by then
  const total = Math.floor(rate * seconds);
  const start = performance.now();
  let sent = 0;
  let calls = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1) - sent;
    if (due <= 0) {
      await new Promise((r) => setTimeout(r, Math.max(0, start + (sent * 1000) / rate - performance.now())));
      continue;
    }
    const callStart = performance.now();
    const ts = nowS();
    if (due === 1) await queue.add('noop', { ts });
    else await queue.addBulk(Array.from({ length: due }, () => ({ name: 'noop', data: { ts } })));
    sent += due;
    calls++;
    const rest = callStart + TICK_MS - performance.now();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  }
  const elapsed = (performance.now() - start) / 1000;
  await queue.close();
  await conn.quit();
  return { sent, calls, seconds: elapsed };
}

async function main() {
  const args = parse(process.argv.slice(2));
  if (args.command === 'setup') return;
  if (args.command === 'enqueue') {
    const t0 = performance.now();
    await enqueue(args.url, Number(args.n));
    console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000 }));
  } else if (args.command === 'worker') {
    worker(args.url, args.out);
  } else if (args.command === 'produce') {
    console.log(JSON.stringify(await produce(args.url, Number(args.rate), Number(args.seconds))));
  } else {
    throw new Error(`unknown command ${args.command}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
