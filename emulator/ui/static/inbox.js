// msgemu inbox: messages per recipient like a phone screen, live through server-sent events.
"use strict";

const state = { messages: new Map(), provider: "", phone: "", selected: "", openMessage: "" };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

const time = (t) => new Date(t * 1000).toLocaleTimeString();

async function load() {
  const [messages, health] = await Promise.all([
    fetch("/_emulator/messages?limit=10000").then((r) => r.json()),
    fetch("/_emulator/health").then((r) => r.json()),
  ]);
  state.messages = new Map(messages.messages.map((m) => [m.id, m]));
  renderProviders(health.providers);
  render();
}

function renderProviders(providers) {
  const nav = $("providers");
  nav.replaceChildren(...["", ...providers].map((p) =>
    el("button", { class: p === state.provider ? "active" : "", "data-provider": p, onclick: () => { state.provider = p; renderProviders(providers); render(); } }, p || "all")));
}

function visible() {
  const phone = state.phone.replace(/\D/g, "");
  return [...state.messages.values()].filter((m) =>
    (!state.provider || m.provider === state.provider) &&
    (!state.phone || m.recipient.includes(state.phone) || (phone && m.recipient.replace(/\D/g, "").includes(phone))));
}

function render() {
  const groups = new Map();
  for (const m of visible()) {
    if (!groups.has(m.recipient)) groups.set(m.recipient, []);
    groups.get(m.recipient).push(m);
  }
  const list = [...groups.entries()].sort((a, b) => b[1].at(-1).created_at - a[1].at(-1).created_at);
  if (!groups.has(state.selected)) state.selected = list.length ? list[0][0] : "";
  $("conversations").replaceChildren(...(list.length ? list.map(([who, ms]) =>
    el("div", { class: "conversation" + (who === state.selected ? " active" : ""), "data-recipient": who, onclick: () => { state.selected = who; render(); } },
      el("div", { class: "who" }, who), el("div", { class: "last" }, `${ms.length} msg · ${ms.at(-1).text}`))) : [el("p", { class: "empty" }, "No messages yet.")]));
  renderPhone(groups.get(state.selected) || []);
  const open = state.messages.get(state.openMessage);
  if (open && visible().includes(open)) renderDetails(open);
  else if (state.openMessage) { state.openMessage = ""; $("details").replaceChildren(el("p", { class: "hint" }, "Click a message to see its status history and callback attempts.")); }
}

function renderPhone(messages) {
  $("phone-title").textContent = state.selected || "Pick a recipient";
  const bubbles = [];
  for (const m of messages.sort((a, b) => a.created_at - b.created_at)) {
    bubbles.push(el("div", { class: "bubble", "data-message": m.id, onclick: () => { state.openMessage = m.id; renderDetails(m); } },
      el("div", { class: "text" }, m.text || "(no text)"),
      el("div", { class: "meta" },
        el("span", { class: `badge ch-${m.channel}` }, m.channel),
        el("span", { class: `status status-${m.status}` }, m.status),
        el("span", {}, m.provider), el("span", {}, time(m.created_at)), m.otp ? el("span", {}, `OTP ${m.otp}`) : "")));
    for (const reply of m.inbound || []) {
      bubbles.push(el("div", { class: "bubble inbound" }, el("div", {}, reply.text), el("div", { class: "meta" }, el("span", {}, "reply"), el("span", {}, time(reply.at)))));
    }
  }
  $("bubbles").replaceChildren(...bubbles);
}

async function renderDetails(m) {
  const detail = await fetch(`/_emulator/messages/${m.id}`).then((r) => r.json());
  const history = detail.attempts.flatMap((a) => a.history.map((h) => ({ channel: a.channel, ...h }))).sort((a, b) => a.at - b.at);
  $("details").replaceChildren(
    el("h2", {}, `${detail.provider} → ${detail.recipient}`),
    el("p", {}, `id ${detail.provider_id} · ${detail.parts} part(s) · cost ${detail.cost}`),
    el("h3", {}, "Status history"),
    el("table", { id: "history" }, el("tr", {}, el("th", {}, "time"), el("th", {}, "channel"), el("th", {}, "status"), el("th", {}, "error")),
      ...history.map((h) => el("tr", {}, el("td", {}, time(h.at)), el("td", {}, h.channel), el("td", { class: `status status-${h.status}` }, h.status), el("td", {}, h.error ?? "")))),
    el("h3", {}, "Callback attempts"),
    detail.callbacks.length ? el("table", { id: "callbacks" }, el("tr", {}, el("th", {}, "#"), el("th", {}, "event"), el("th", {}, "url"), el("th", {}, "result"), el("th", {}, "body")),
      ...detail.callbacks.map((c) => el("tr", {}, el("td", {}, c.attempt), el("td", {}, c.event.status || c.kind), el("td", {}, c.url),
        el("td", {}, c.status ?? c.error), el("td", {}, el("pre", {}, c.body))))) : el("p", { class: "empty" }, "No callback URL, or no callback yet."));
}

function connect() {
  const source = new EventSource("/_emulator/stream");
  source.addEventListener("hello", () => { $("live").textContent = "live"; $("live").className = "live on"; });
  const upsert = (e) => { const data = JSON.parse(e.data); if (data.message) { state.messages.set(data.message.id, data.message); render(); } };
  for (const type of ["message", "event", "inbound", "callback"]) source.addEventListener(type, upsert);
  source.addEventListener("reset", () => { state.messages.clear(); state.openMessage = ""; render(); });
  source.onerror = () => { $("live").textContent = "offline"; $("live").className = "live off"; };
}

$("phone-filter").addEventListener("input", (e) => { state.phone = e.target.value.trim(); render(); });
load().then(connect);
