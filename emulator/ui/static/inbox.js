// msgemu inbox: messages per recipient like a phone screen, live through server-sent events.
// Never stale: a burst of more than BURST_LIMIT updates, a gap in the event sequence, an SSE
// error or a reconnect makes the page resync from the API instead of trusting the stream.
"use strict";

const STATUSES = ["accepted", "queued", "sent", "delivered", "read", "undelivered", "expired", "rejected", "cancelled"];
const FAILED = new Set(["undelivered", "expired", "rejected", "cancelled"]);
const DELIVERED = new Set(["delivered", "read"]);
const BURST_LIMIT = 1000; // updates in one burst past which the stream is not trusted
const BURST_GAP_MS = 1000; // a pause this long ends a burst
const CHART_MINUTES = 30;

const state = {
  messages: new Map(), optouts: new Set(), providers: [],
  filters: { text: "", provider: "", status: "", channel: "" },
  selected: "", open: "", clock: { mode: "real", now: Date.now() / 1000, offset: 0 },
  resyncs: 0, lastResync: "", resyncReasons: [], burst: 0, lastUpdate: 0, lastSeq: 0, connectedOnce: false,
};
window.msgemuInbox = state; // for tests and the curious: resyncs, lastResync, resyncReasons (the last 50)
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

const pad = (n) => String(n).padStart(2, "0");
const time = (t) => { const d = new Date(t * 1000); return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; };
const dateTime = (t) => { const d = new Date(t * 1000); return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time(t)}`; };
const digits = (s) => String(s ?? "").replace(/\D/g, "");
const isFailed = (status) => FAILED.has(status);

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: text.trim() }; }
  return { ok: response.ok, status: response.status, body };
}

function notice(text, kind = "info") {
  const box = $("notice");
  box.textContent = text; box.className = kind; box.hidden = !text;
}

// -- sync from the API ----------------------------------------------------------------------
let syncing = null, syncAgain = false;
async function resync(reason) {
  if (syncing) { syncAgain = true; return syncing; }
  syncing = (async () => {
    do {
      syncAgain = false;
      try {
        const [messages, health, optouts] = await Promise.all([
          api("/_emulator/messages?limit=10000"), api("/_emulator/health"), api("/_emulator/optouts"), refreshScenario(), refreshRejected()]);
        if (!messages.ok) throw new Error(messages.body?.error || `HTTP ${messages.status}`);
        state.messages = new Map(messages.body.messages.map((m) => [m.id, m]));
        // what the stream brought while the snapshot was on its way may be newer than it
        const arrived = arrivedDuringSync; arrivedDuringSync = [];
        for (const m of arrived) { const known = state.messages.get(m.id); if (!known || version(m) > version(known)) state.messages.set(m.id, m); }
        state.optouts = new Set((optouts.ok ? optouts.body.optouts : []).map((o) => `${o.provider}:${o.recipient}`));
        if (health.ok) { state.providers = health.body.providers; setClock(health.body.clock); }
        state.lastSeq = 0; state.burst = 0;
        if (reason !== "load") {
          state.resyncs += 1; state.lastResync = reason;
          state.resyncReasons = [...state.resyncReasons.slice(-49), reason];
        }
        if (reason !== "load" && reason !== "reset") notice(`Resynced from the API (${reason}).`);
      } catch (err) {
        notice(`Cannot reach the emulator: ${err.message}; retrying when the stream is back.`, "error");
      }
    } while (syncAgain);
    syncing = null; arrivedDuringSync = [];
    render(); openFromHash();
  })();
  return syncing;
}

// a message only moves forward: its version is how many transitions and replies it has seen
const version = (m) => m.attempts.reduce((n, a) => n + a.history.length, 0) + (m.inbound || []).length;
function upsert(m) {
  const known = state.messages.get(m.id);
  if (!known || version(m) >= version(known)) state.messages.set(m.id, m);
  if (syncing) arrivedDuringSync.push(m);
}
let arrivedDuringSync = [];

// -- live updates ---------------------------------------------------------------------------
let renderTimer = null, burstTimer = null;
function scheduleRender() { if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = null; render(); }, 80); }

function countUpdate() {
  const now = Date.now();
  state.burst = now - state.lastUpdate > BURST_GAP_MS ? 1 : state.burst + 1;
  state.lastUpdate = now;
  if (state.burst > BURST_LIMIT) {
    // the server drops the oldest changes of a listener that falls behind: after a burst like
    // this one the page may have missed some, so it reloads (once per 1,000 updates at most)
    if (!burstTimer) burstTimer = setTimeout(() => { burstTimer = null; resync("burst of more than 1,000 updates"); }, 300);
    return false;
  }
  return true;
}

function onChange(type, data) {
  const trusted = countUpdate();
  if (type === "event" && data.event) {
    if (state.lastSeq && data.event.seq > state.lastSeq + 1) { resync("missed events"); return; }
    state.lastSeq = Math.max(state.lastSeq, data.event.seq);
  }
  if (data.message) upsert(data.message);
  if (type === "inbound" && data.message) refreshOptouts();
  if (!trusted) return;
  scheduleRender();
  const about = data.message?.id || data.callback?.message_id;
  if (about && about === state.open) scheduleDetails();
}

let optoutTimer = null;
function refreshOptouts() {
  clearTimeout(optoutTimer);
  optoutTimer = setTimeout(async () => {
    const answer = await api("/_emulator/optouts");
    if (answer.ok) { state.optouts = new Set(answer.body.optouts.map((o) => `${o.provider}:${o.recipient}`)); scheduleRender(); }
  }, 200);
}

function connect() {
  const source = new EventSource("/_emulator/stream");
  source.addEventListener("hello", () => {
    $("live").textContent = "live"; $("live").className = "live on";
    if (state.connectedOnce) resync("stream reconnected");
    state.connectedOnce = true;
  });
  for (const type of ["message", "event", "inbound", "callback"]) {
    source.addEventListener(type, (e) => onChange(type, JSON.parse(e.data)));
  }
  source.addEventListener("request", () => scheduleRejected()); // only rejected ones are streamed
  source.addEventListener("scenario", () => refreshScenario());
  source.addEventListener("reset", () => { state.messages.clear(); state.open = ""; resync("reset"); });
  source.onerror = () => {
    $("live").textContent = "offline"; $("live").className = "live off";
    resync("stream error");
  };
}

// -- filters --------------------------------------------------------------------------------
function renderFilters() {
  const fill = (select, values, all) => {
    const current = select.value;
    select.replaceChildren(el("option", { value: "" }, all), ...values.map((v) => el("option", { value: v }, v)));
    select.value = values.includes(current) ? current : "";
  };
  const channels = new Set();
  for (const m of state.messages.values()) for (const a of m.attempts) channels.add(a.channel);
  fill($("provider-filter"), state.providers, "all providers");
  fill($("status-filter"), STATUSES, "any status");
  fill($("channel-filter"), [...channels].sort(), "any channel");
}

function matches(m) {
  const f = state.filters;
  if (f.provider && m.provider !== f.provider) return false;
  if (f.status && m.status !== f.status) return false;
  if (f.channel && !m.attempts.some((a) => a.channel === f.channel)) return false;
  if (f.text) {
    const needle = f.text.toLowerCase();
    const texts = [m.recipient, m.id, m.provider_id, m.client_ref, ...m.attempts.map((a) => a.content?.text)];
    const phone = digits(f.text);
    if (!texts.some((t) => t && String(t).toLowerCase().includes(needle)) && !(phone.length >= 3 && digits(m.recipient).includes(phone))) return false;
  }
  return true;
}

// -- rendering ------------------------------------------------------------------------------
let channelKey = "";
function render() {
  const channels = new Set();
  for (const m of state.messages.values()) for (const a of m.attempts) channels.add(a.channel);
  const key = [...channels].sort().join(",") + "|" + state.providers.join(",");
  if (key !== channelKey) { channelKey = key; renderFilters(); }
  const groups = new Map();
  for (const m of [...state.messages.values()].sort((a, b) => a.created_at - b.created_at)) {
    if (!matches(m)) continue;
    if (!groups.has(m.recipient)) groups.set(m.recipient, []);
    groups.get(m.recipient).push(m);
  }
  const list = [...groups.entries()].sort((a, b) => b[1].at(-1).created_at - a[1].at(-1).created_at);
  if (!groups.has(state.selected)) state.selected = list.length ? list[0][0] : "";
  $("conversations").replaceChildren(...(list.length ? list.map(([who, ms]) => conversation(who, ms)) : [el("p", { class: "empty" }, "No messages.")]));
  renderPhone(groups.get(state.selected) || []);
  renderChart();
  if (state.open && !state.messages.has(state.open)) openFromHash();
}

function conversation(who, ms) {
  const last = ms.at(-1);
  const failed = isFailed(last.status);
  const optedOut = ms.some((m) => state.optouts.has(`${m.provider}:${digits(m.recipient)}`));
  return el("div", { class: `conversation${who === state.selected ? " active" : ""}${failed ? " failed" : ""}`, "data-recipient": who,
                     onclick: () => { state.selected = who; render(); } },
    el("div", { class: "who" }, who, optedOut ? el("span", { class: "optout", title: "opted out (STOP)" }, "opted out") : ""),
    el("div", { class: "line" },
      el("span", { class: "provider" }, last.provider),
      el("span", { class: `last-status status status-${last.status}` }, failed ? `✕ ${last.status}` : last.status),
      el("span", { class: "time" }, time(last.created_at)),
      last.rule ? el("span", { class: "rule-mark", title: `decided by ${ruleText(last.rule)}` }, "⚑ rule") : "",
      ms.length > 1 ? el("span", {}, `${ms.length} msgs`) : ""),
    el("div", { class: "last" }, last.text || "(no text)"));
}

function renderPhone(messages) {
  $("phone-title").textContent = state.selected || "Pick a recipient";
  const bubbles = [];
  for (const m of messages) {
    bubbles.push(el("div", { class: `bubble${m.id === state.open ? " open" : ""}`, "data-message": m.id, onclick: () => { location.hash = `#/message/${m.id}`; } },
      el("div", { class: "text" }, m.text || "(no text)"),
      el("div", { class: "meta" },
        m.attempts.map((a) => el("span", { class: `badge ch-${a.channel}${a.status ? "" : " off"}`, title: a.status || "not reached" }, a.channel)),
        el("span", { class: `status status-${m.status}` }, m.status),
        el("span", {}, m.provider), el("span", {}, time(m.created_at)), m.otp ? el("span", {}, `OTP ${m.otp}`) : "",
        m.rule ? el("span", { class: "rule-mark", title: `decided by ${ruleText(m.rule)}` }, `⚑ ${m.rule.name || "rule"}`) : "")));
    for (const reply of m.inbound || []) {
      bubbles.push(el("div", { class: "bubble inbound" }, el("div", {}, reply.text),
        el("div", { class: "meta" }, el("span", {}, reply.optout ? "reply · opted out" : "reply"), el("span", {}, time(reply.at)))));
    }
  }
  $("bubbles").replaceChildren(...bubbles);
}

// -- the chart: messages per minute by status (plain SVG) -----------------------------------
function renderChart() {
  const svg = $("chart");
  const now = Math.max(clockNow(), ...[...state.messages.values()].map((m) => m.created_at));
  const end = Math.floor(now / 60) + 1; // minute index just after the current minute
  const buckets = Array.from({ length: CHART_MINUTES }, () => ({ delivered: 0, pending: 0, failed: 0 }));
  let shown = 0;
  for (const m of state.messages.values()) {
    const slot = CHART_MINUTES - (end - Math.floor(m.created_at / 60));
    if (slot < 0 || slot >= CHART_MINUTES) continue;
    buckets[slot][DELIVERED.has(m.status) ? "delivered" : isFailed(m.status) ? "failed" : "pending"] += 1;
    shown += 1;
  }
  const top = Math.max(1, ...buckets.map((b) => b.delivered + b.pending + b.failed));
  const width = 300 / CHART_MINUTES, ns = "http://www.w3.org/2000/svg";
  const nodes = [];
  buckets.forEach((b, i) => {
    const total = b.delivered + b.pending + b.failed;
    const group = document.createElementNS(ns, "g");
    group.setAttribute("data-total", total);
    const title = document.createElementNS(ns, "title");
    const minute = new Date((end - CHART_MINUTES + i) * 60000);
    title.textContent = `${pad(minute.getHours())}:${pad(minute.getMinutes())} — ${b.delivered} delivered, ${b.pending} in progress, ${b.failed} failed`;
    group.append(title);
    let y = 48;
    for (const kind of ["delivered", "pending", "failed"]) {
      if (!b[kind]) continue;
      const h = (b[kind] / top) * 46;
      y -= h;
      const rect = document.createElementNS(ns, "rect");
      for (const [k, v] of Object.entries({ x: i * width + 0.5, y, width: width - 1, height: h, class: `bar-${kind}`, "data-count": b[kind] })) rect.setAttribute(k, v);
      group.append(rect);
    }
    nodes.push(group);
  });
  svg.replaceChildren(...nodes);
  $("chart-caption").textContent = `${shown} in the last ${CHART_MINUTES} min · max ${top}/min`;
}

// -- details of one message -----------------------------------------------------------------
let detailsTimer = null;
function scheduleDetails() { clearTimeout(detailsTimer); detailsTimer = setTimeout(() => renderDetails(state.open), 150); }

function openFromHash() {
  const found = location.hash.match(/^#\/message\/(.+)$/);
  const id = found ? decodeURIComponent(found[1]) : "";
  if (!id) return;
  state.open = id;
  const m = state.messages.get(id);
  if (m && state.selected !== m.recipient) { state.selected = m.recipient; render(); }
  renderDetails(id);
}

async function renderDetails(id) {
  if (!id) return;
  const [detail, origin] = await Promise.all([
    api(`/_emulator/messages/${encodeURIComponent(id)}`),
    api(`/_emulator/requests?message_id=${encodeURIComponent(id)}&limit=5`)]);
  if (id !== state.open) return;
  if (!detail.ok) {
    $("details").replaceChildren(el("p", { class: "empty", id: "missing" }, `No message ${id} (it may have been reset or dropped by the retention cap).`));
    return;
  }
  const m = detail.body;
  if ($("details").dataset.message !== m.id) { $("details").dataset.message = m.id; $("details").scrollTop = 0; }
  const history = m.attempts.flatMap((a) => a.history.map((h) => ({ channel: a.channel, ...h }))).sort((a, b) => a.at - b.at);
  const request = origin.ok ? origin.body.requests.at(-1) : null;
  const table = (id, head, rows) => el("div", { class: "scroll" }, el("table", { id }, el("tr", {}, head.map((h) => el("th", {}, h))), rows));
  $("details").replaceChildren(
    el("h2", {}, `${m.provider} → ${m.recipient}`),
    el("p", {}, `id ${m.provider_id} · ${m.parts} part(s) · cost ${m.cost} · `,
      el("span", { class: `status status-${m.status}` }, m.status), " · ",
      el("a", { class: "permalink", href: `#/message/${encodeURIComponent(m.id)}` }, "link to this message")),
    el("p", { id: "rule" }, m.rule ? ["Decided by ", el("strong", {}, ruleText(m.rule))] : "No scenario rule matched: the default delivery plan."),
    el("h3", {}, "Cascade"),
    table("cascade", ["#", "channel", "status", "error", "content"], m.attempts.map((a, i) =>
      el("tr", { "data-channel": a.channel }, el("td", {}, i + 1), el("td", {}, a.channel),
        el("td", { class: `status status-${a.status}` }, a.status ?? "not reached"), el("td", {}, a.error ?? ""),
        el("td", {}, el("pre", {}, a.content?.text ?? JSON.stringify(a.content)))))),
    el("h3", {}, "Status history"),
    table("history", ["time", "channel", "status", "error"], history.map((h) =>
      el("tr", {}, el("td", {}, time(h.at)), el("td", {}, h.channel), el("td", { class: `status status-${h.status}` }, h.status), el("td", {}, h.error ?? "")))),
    el("h3", {}, "Provider request"),
    request ? el("pre", { id: "raw-request" }, rawRequest(request)) : el("p", { class: "empty" }, "Not in the journal any more."),
    el("h3", {}, "Provider response"),
    request ? el("pre", { id: "raw-response" }, `HTTP ${request.status}\n\n${request.response}`) : "",
    el("h3", {}, "Callback attempts"),
    el("div", { id: "callback-notice", hidden: true, role: "status" }),
    m.callbacks.length ? table("callbacks", ["#", "event", "at", "url", "result", "body", ""], m.callbacks.map((c) =>
      el("tr", { "data-callback": c.id }, el("td", {}, c.attempt), el("td", {}, c.event?.status || c.kind), el("td", {}, time(c.at)), el("td", {}, c.url),
        el("td", { class: c.status >= 200 && c.status < 300 ? "status-delivered" : "status-undelivered" }, c.status ?? c.error,
          c.next_retry_in ? ` · retry in ${c.next_retry_in} s` : ""),
        el("td", {}, el("pre", {}, c.body)),
        el("td", {}, el("button", { class: "resend", type: "button", "data-callback": c.id, onclick: () => resend(c.id) }, "resend"))))) :
      el("p", { class: "empty" }, "No callback URL, or no callback yet."),
    m.inbound.length ? el("h3", {}, "Replies") : "",
    m.inbound.length ? el("ul", {}, m.inbound.map((r) => el("li", {}, `${time(r.at)} ${r.text}${r.optout ? " (opted out)" : ""}`))) : "");
  for (const b of document.querySelectorAll(".bubble")) b.classList.toggle("open", b.dataset.message === id);
  if (window.matchMedia("(max-width: 900px)").matches) $("details").scrollIntoView({ block: "start" });
}

function rawRequest(r) {
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`).join("\n");
  return `${r.method} ${r.path}${r.query ? `?${r.query}` : ""}\n${headers}\n\n${r.body}`;
}

async function resend(callbackId) {
  const box = $("callback-notice");
  const show = (text, kind) => { box.textContent = text; box.className = kind; box.hidden = false; };
  let answer;
  try {
    answer = await api(`/_emulator/callbacks/${callbackId}/retry`, { method: "POST" });
  } catch (err) {
    return show(`Resend failed: ${err.message}`, "error");
  }
  if (answer.status === 404) return show(`Resend is not available: the server answered 404 (${answer.body?.error || "no such route"}).`, "error");
  if (!answer.ok) return show(`Resend failed: HTTP ${answer.status} ${answer.body?.error || ""}`, "error");
  show(`Callback ${callbackId} resent.`, "info");
  scheduleDetails();
}

// -- scenario and rejected requests ---------------------------------------------------------
// where a rule was written: "name" (#index of source), plus the magic recipient it is for
function ruleText(rule) {
  const where = `#${rule.index} of ${rule.source}`;
  return `${rule.recipient ? "magic recipient " + rule.recipient + ": " : ""}"${rule.name || "unnamed rule"}" (${where})`;
}

async function refreshScenario() {
  const answer = await api("/_emulator/scenario").catch(() => null);
  if (!answer?.ok) return;
  const active = answer.body.active, box = $("scenario");
  box.textContent = active ? `scenario: ${active.name} (${active.rules} rules)` : "scenario: none";
  box.title = active ? `active scenario from ${active.source}${active.description ? ": " + active.description : ""}` : "no scenario loaded: only the magic recipients apply";
  box.className = `scenario${active ? "" : " none"}`;
}

// why the provider refused: the error key, the check (schema keyword and pointer, parameter,
// scenario rule or magic recipient) and the validator's detail
function reasonText(reason) {
  if (!reason) return "";
  const parts = [reason.rule];
  if (reason.keyword) parts.push(`${reason.keyword} at ${reason.pointer}`); else if (reason.pointer) parts.push(reason.pointer);
  if (reason.scenario) parts.push(ruleText(reason.scenario));
  if (reason.nearest_path) parts.push(`nearest known path ${reason.nearest_path}`);
  if (reason.detail) parts.push(reason.detail);
  return parts.join(" · ");
}

let rejectedTimer = null;
function scheduleRejected() { if (!rejectedTimer) rejectedTimer = setTimeout(() => { rejectedTimer = null; refreshRejected(); }, 200); }

async function refreshRejected() {
  const answer = await api("/_emulator/requests?outcome=rejected&limit=50").catch(() => null);
  if (!answer?.ok) return;
  const rows = answer.body.requests.slice().reverse(); // newest first
  $("rejected-count").textContent = answer.body.count;
  $("rejected").replaceChildren(rows.length ? el("div", { class: "scroll" }, el("table", { id: "rejected-requests" },
    el("tr", {}, ["time", "provider", "request", "answer", "error key", "why"].map((h) => el("th", {}, h))),
    rows.map((r) => el("tr", { "data-request": r.id },
      el("td", {}, time(r.at)), el("td", {}, r.provider ?? ""), el("td", {}, `${r.method} ${r.path}`),
      el("td", { class: r.status >= 400 ? "status-undelivered" : "" }, `HTTP ${r.status}`), el("td", {}, r.reason?.key ?? r.error ?? ""),
      el("td", { class: "reason" }, reasonText(r.reason)))))) : el("p", { class: "empty" }, "No rejected requests."));
}

// -- clock and reset ------------------------------------------------------------------------
function setClock(clock) {
  state.clock = { mode: clock.mode, now: clock.now, offset: clock.now - Date.now() / 1000 };
  showClock();
}
function clockNow() { return state.clock.mode === "manual" ? state.clock.now : Date.now() / 1000 + state.clock.offset; }
function showClock() { $("clock-now").textContent = `${dateTime(clockNow())} (${state.clock.mode})`; }

async function advance() {
  const seconds = Number($("advance-seconds").value);
  if (!Number.isFinite(seconds) || seconds < 0) return notice("Seconds to advance must be a number, 0 or more.", "error");
  const answer = await api("/_emulator/clock/advance", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ seconds }) });
  if (!answer.ok) return notice(`Advance failed: ${answer.body?.error || answer.status}`, "error");
  setClock(answer.body);
  notice(`Advanced ${seconds} s: ${answer.body.fired} change(s) fired.`);
  renderChart();
}

async function reset() {
  const answer = await api("/_emulator/reset", { method: "POST" });
  if (!answer.ok) return notice(`Reset failed: ${answer.body?.error || answer.status}`, "error");
  state.messages.clear(); state.open = ""; location.hash = "";
  $("details").replaceChildren(el("p", { class: "hint" }, "Everything was reset."));
  notice("Reset: messages, requests, events and callbacks forgotten; accounts back to their demo state.");
  await resync("reset");
}

// -- wiring ---------------------------------------------------------------------------------
for (const [id, key] of [["search", "text"], ["provider-filter", "provider"], ["status-filter", "status"], ["channel-filter", "channel"]]) {
  $(id).addEventListener("input", (e) => { state.filters[key] = e.target.value.trim(); render(); });
}
$("advance").addEventListener("click", advance);
$("reset").addEventListener("click", reset);
window.addEventListener("hashchange", openFromHash);
setInterval(showClock, 1000);
setInterval(async () => { const c = await api("/_emulator/clock").catch(() => null); if (c?.ok) setClock(c.body); }, 10000);
setInterval(refreshScenario, 10000); // streamed too ("scenario"); this catches a missed one
resync("load").then(connect);
