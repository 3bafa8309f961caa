// croner.mjs: bench/cron_next's measurement, made with the npm package croner.
//
//   node bench/croner.mjs [-s SECONDS] [-p COUNT] [--common OUT] CORPUS
//
// Needs croner importable from where this file lies: bench/run-cron-next
// copies it next to a private `npm install croner` (ES modules ignore
// NODE_PATH).  Reads the same "EXPR<TAB>ZONE" corpus as cron_next, translates
// each Quartz expression into croner's dialect, skips the ones croner cannot
// express and says how many, then times nextRun() chained exactly as
// cron_next chains cronspec_next(): chains of CHAIN calls from START, one
// zone at a time, SECONDS per zone.
//
// --common OUT writes the lines it kept (original Quartz text), so that
// cron_next can be timed on the same subset.  -p COUNT prints the first
// COUNT fire times of every kept line, as cron_next -p does, instead of
// timing.

import { readFileSync, writeFileSync } from "node:fs";
import { Cron } from "croner";

const START = Date.UTC(2024, 0, 1); // 2024-01-01T00:00:00Z, as in cron_next.c
const CHAIN = 64;
const LAST_YEAR = 2099; // rotad's horizon; croner goes on to 9999

const UTC_NAMES = new Set(["UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"]);

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP",
  "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

// Quartz fields: seconds, minutes, hours, day-of-month, month, day-of-week,
// year, with their ranges and the names each accepts.
const FIELDS = [
  { min: 0, max: 59 }, { min: 0, max: 59 }, { min: 0, max: 23 },
  { min: 1, max: 31 }, { min: 1, max: 12, names: MONTHS },
  { min: 1, max: 7, names: DAYS }, { min: 1970, max: 2099 },
];

class Unsupported extends Error {}

function value(text, f) {
  const up = text.toUpperCase();
  if (f.names && f.names.includes(up)) return f.names.indexOf(up) + f.min;
  if (!/^\d+$/.test(text)) throw new Unsupported(`value '${text}'`);
  return Number(text);
}

// A plain Quartz list ("a", "a-b", "a/n", "*/n", "a-b/n", names, ranges that
// wrap past the maximum) as an explicit comma list.  Croner's dialect differs
// on wrapping ranges, "a/n" and steps after names; spelling every value out
// sidesteps all of that and gives croner the same value table it would
// build itself.
function expand(text, f) {
  const set = new Set();
  for (const item of text.split(",")) {
    let [range, step] = item.split("/");
    step = step === undefined ? 1 : Number(step);
    if (!Number.isInteger(step) || step < 1) throw new Unsupported(item);
    let lo, hi;
    if (range === "*") {
      [lo, hi] = [f.min, f.max];
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      [lo, hi] = [value(a, f), value(b, f)];
    } else {
      lo = value(range, f);
      hi = item.includes("/") ? f.max : lo;
    }
    const span = f.max - f.min + 1;
    if (hi < lo) hi += span; // wraps: 22-2, FRI-MON, NOV-FEB
    for (let v = lo; v <= hi; v += step)
      set.add(v > f.max ? v - span : v);
  }
  return [...set].sort((a, b) => a - b).join(",");
}

// Quartz (rotad's dialect) to croner, or throw Unsupported.
export function translate(expr) {
  const q = expr.trim().split(/\s+/);
  if (q.length < 6 || q.length > 7) throw new Unsupported("field count");
  const out = [];
  for (let i = 0; i < q.length; i++) {
    const t = q[i].toUpperCase();
    if (t === "*" || t === "?") {
      out.push("*");
    } else if (i === 3 && (t === "L" || t === "LW" || /^\d+W$/.test(t))) {
      out.push(t);
    } else if (i === 3 && t.startsWith("L")) {
      throw new Unsupported(`'${q[i]}' (L-n)`);
    } else if (i === 5 && t === "L") {
      out.push("7"); // Quartz: L alone in day-of-week is Saturday
    } else if (i === 5 && /^[A-Z0-9]+L$/.test(t)) {
      out.push(`${value(t.slice(0, -1), FIELDS[5])}#L`);
    } else if (i === 5 && t.includes("#")) {
      const [d, k] = t.split("#");
      out.push(`${value(d, FIELDS[5])}#${k}`);
    } else if (/[LW#]/.test(t.replace(/[A-Z]{3}/g, ""))) {
      throw new Unsupported(`'${q[i]}'`);
    } else {
      out.push(expand(q[i], FIELDS[i]));
    }
  }
  return out.join(" ");
}

function load(path) {
  const kept = [];
  const skipped = [];
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const [expr, zone] = line.split("\t");
    try {
      const pattern = translate(expr);
      const job = new Cron(pattern, {
        // croner's timezone option goes through Intl.DateTimeFormat on
        // every call, several times slower than its fixed-offset path; UTC
        // has no DST, so give croner its fastest exact equivalent.
        ...(UTC_NAMES.has(zone) ? { utcOffset: 0 } : { timezone: zone }),
        paused: true,
        mode: "6-or-7-parts",
        alternativeWeekdays: true, // 1 = SUN ... 7 = SAT, as in Quartz
        domAndDow: true, // one side is always '*': AND is Quartz's reading
      });
      kept.push({ line, expr, zone, pattern, job });
    } catch (e) {
      if (!(e instanceof Unsupported) && !(e instanceof TypeError)) throw e;
      skipped.push({ line, why: e.message });
    }
  }
  return { kept, skipped };
}

// One chain, as chain() in cron_next.c.
function chain(job) {
  let after = new Date(START);
  for (let i = 0; i < CHAIN; i++) {
    const next = job.nextRun(after);
    after = next === null || next.getUTCFullYear() > LAST_YEAR
      ? new Date(START) : next;
  }
  return CHAIN;
}

function main(argv) {
  let seconds = 1;
  let print = 0;
  let common = null;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "-s") seconds = Number(argv[++i]);
    else if (argv[i] === "-p") print = Number(argv[++i]);
    else if (argv[i] === "--common") common = argv[++i];
    else rest.push(argv[i]);
  }
  if (rest.length !== 1 || !(seconds > 0)) {
    console.error("usage: croner.mjs [-s seconds] [-p count] [--common out] corpus");
    process.exit(2);
  }

  const { kept, skipped } = load(rest[0]);
  if (common !== null)
    writeFileSync(common, kept.map((k) => k.line + "\n").join(""));

  if (print > 0) {
    for (const k of kept) {
      const fires = [];
      let after = new Date(START);
      for (let i = 0; i < print; i++) {
        const next = k.job.nextRun(after);
        if (next === null || next.getUTCFullYear() > LAST_YEAR) break;
        fires.push(Math.floor(next.getTime() / 1000));
        after = next;
      }
      console.log(`${k.expr}\t${k.zone}\t${fires.join(" ")}`);
    }
    return;
  }

  const { version } = JSON.parse(readFileSync(
    new URL("../package.json", import.meta.resolve("croner")), "utf8"));
  console.log(`croner ${version}: ${kept.length} expressions kept, ` +
    `${skipped.length} skipped (croner cannot express them), chains of ` +
    `${CHAIN} calls from 2024-01-01T00:00:00Z, ${seconds} s per zone`);
  for (const s of skipped)
    console.log(`  skipped: ${s.line.replace("\t", " in ")}: ${s.why}`);

  const zones = [...new Set(kept.map((k) => k.zone))];
  const pad = (s, n) => String(s).padStart(n);
  console.log(`${"zone".padEnd(24)} ${pad("exprs", 6)} ${pad("calls", 12)} ${pad("us/call", 9)}`);
  let totalCalls = 0;
  let totalNs = 0n;
  for (const zone of zones) {
    const jobs = kept.filter((k) => k.zone === zone).map((k) => k.job);
    for (const job of jobs) chain(job); // untimed round, lets the JIT settle
    let calls = 0;
    const t0 = process.hrtime.bigint(); // monotonic, like CLOCK_MONOTONIC
    let ns;
    do {
      for (const job of jobs) calls += chain(job);
      ns = process.hrtime.bigint() - t0;
    } while (Number(ns) < seconds * 1e9);
    console.log(`${zone.padEnd(24)} ${pad(jobs.length, 6)} ${pad(calls, 12)} ` +
      `${pad((Number(ns) / 1e3 / calls).toFixed(3), 9)}`);
    totalCalls += calls;
    totalNs += ns;
  }
  console.log(`${"all".padEnd(24)} ${pad(kept.length, 6)} ${pad(totalCalls, 12)} ` +
    `${pad((Number(totalNs) / 1e3 / totalCalls).toFixed(3), 9)}`);
}

main(process.argv.slice(2));
