// The lzt review page: a paged grid over the review database's API. Every decision is sent at
// once (POST with the token in the X-Lzt-Token header) and the card is redrawn from the
// server's answer, so what the page shows is what the database holds. Text from the server
// (file names, labels) is only ever set as textContent, never as HTML.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const PAGE = 60;
const state = {
  vocabulary: [], known: new Set(), query: {}, offset: 0, total: 0, items: [], current: 0, label: 0, busy: false,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function say(message, error) {
  const status = $("status");
  status.textContent = message;
  status.className = error ? "error" : "";
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json", "X-Lzt-Token": TOKEN}, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || text || response.statusText);
  return data;
}

// --- the view: filters in the URL's #fragment (never the token's ?query), so a reload keeps it ---

function readFilters() {
  const [sort, order] = $("f-sort").value.split("-");
  const query = {label: $("f-label").value.trim(), where: $("f-where").value, min: $("f-min").value,
                 max: $("f-max").value, status: $("f-status").value, sort, order};
  for (const key of Object.keys(query)) if (query[key] === "") delete query[key];
  return query;
}

function showFilters(query) {
  $("f-label").value = query.label || "";
  $("f-where").value = query.where || "tags";
  $("f-min").value = query.min || "";
  $("f-max").value = query.max || "";
  $("f-status").value = query.status || "all";
  $("f-sort").value = `${query.sort || "score"}-${query.order || "desc"}`;
}

function remember() {
  const params = new URLSearchParams(state.query);
  if (state.offset) params.set("offset", state.offset);
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}

function recall() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  params.delete("offset");
  state.query = Object.fromEntries(params.entries());
  showFilters(state.query);
}

// --- loading ---------------------------------------------------------------------------------------

async function loadInfo() {
  const info = await api("api/info");
  state.vocabulary = info.vocabulary;
  state.known = new Set(info.vocabulary);
  const list = $("present-labels");
  list.replaceChildren(...info.labels.map(([label, count]) => el("option", {value: label, label: `${count} photos`})));
  const s = info.summary;
  $("summary").textContent = `${s.photos} photos · ${s.reviewed_photos} reviewed · ${s.decisions} decisions ` +
    `(${s.accepted} accepted, ${s.rejected} rejected) · ${info.database} · Apply writes ` +
    (info.apply.format === "xmp" ? `XMP sidecars (${info.apply.xmp_parent || "no parent"}|reviewed|…)` : "caption files");
}

async function loadPage(select) {
  const params = new URLSearchParams({...state.query, offset: state.offset, limit: PAGE});
  const page = await api(`api/photos?${params}`);
  state.total = page.total;
  state.items = page.items;
  if (state.offset >= page.total && page.total > 0) {
    state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
    return loadPage(select);
  }
  state.current = select === "last" ? Math.max(0, state.items.length - 1) : 0;
  state.label = 0;
  remember();
  render();
}

function labelsOf(item) {
  return [...item.tags.map((t) => ({...t, kind: "tag"})), ...item.candidates.map((t) => ({...t, kind: "candidate"})),
          ...item.added.map((t) => ({...t, kind: "added", score: null}))];
}

// --- drawing ---------------------------------------------------------------------------------------

function chip(item, entry, index) {
  const classes = ["chip", entry.kind, entry.decision ? `${entry.decision}ed` : "undecided"];
  if (!state.known.has(entry.label)) classes.push("unknown");
  const node = el("li", {"class": classes.join(" "), "data-label": entry.label, "data-index": String(index),
                         title: entry.kind === "candidate" ? "below the cut" : entry.kind === "added" ? "added by you" : "automatic tag"},
    el("span", {"class": "label"}, entry.label));
  if (entry.score !== null) node.append(el("span", {"class": "score"}, entry.score.toFixed(2)));
  const accept = el("button", {"class": "accept", type: "button", title: "accept (a)"}, "✓");
  const reject = el("button", {"class": "reject", type: "button", title: "reject (r)"}, "✗");
  accept.addEventListener("click", () => { select(state.items.indexOf(item), index); decide(entry.decision === "accept" ? "clear" : "accept"); });
  reject.addEventListener("click", () => { select(state.items.indexOf(item), index); decide(entry.decision === "reject" ? "clear" : "reject"); });
  node.append(accept, reject);
  return node;
}

function card(item, position) {
  const image = el("img", {alt: item.name, loading: "lazy", decoding: "async"});
  image.src = `thumb/${item.id}`;
  image.addEventListener("error", () => image.replaceWith(el("div", {"class": "no-thumb"}, item.missing ? "file not found" : "no thumbnail")));
  const entries = labelsOf(item);
  const tags = el("ul", {"class": "tags"});
  const below = el("ul", {"class": "candidates"});
  const added = el("ul", {"class": "added"});
  entries.forEach((entry, index) => ({tag: tags, candidate: below, added})[entry.kind].append(chip(item, entry, index)));
  const add = el("button", {"class": "add", type: "button", title: "add a tag (t)"}, "+ tag");
  add.addEventListener("click", () => { select(position, state.label); openAdd(); });
  const node = el("article", {"class": "card", "data-id": String(item.id), "data-index": String(position)},
    image, el("div", {"class": "name", title: item.path}, item.name), tags);
  if (item.candidates.length) node.append(el("div", {"class": "section"}, "below the cut"), below);
  if (item.added.length) node.append(el("div", {"class": "section"}, "added"), added);
  node.append(add);
  node.addEventListener("click", (event) => { if (event.target === node || event.target === image) select(position, 0); });
  return node;
}

function render() {
  $("grid").replaceChildren(...state.items.map(card));
  const last = Math.min(state.offset + state.items.length, state.total);
  $("page-info").textContent = state.total ? `photos ${state.offset + 1}–${last} of ${state.total}` : "no photo matches";
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE >= state.total;
  const bulk = $("bulk");
  bulk.hidden = !state.query.label || state.total === 0;
  $("bulk-count").textContent = String(state.total);
  for (const span of document.querySelectorAll(".bulk-label")) span.textContent = state.query.label || "";
  highlight();
}

function redraw(index) {
  const old = $("grid").children[index];
  if (old) old.replaceWith(card(state.items[index], index));
  highlight();
}

function highlight() {
  for (const node of document.querySelectorAll(".current, .current-label")) node.classList.remove("current", "current-label");
  const node = $("grid").children[state.current];
  if (!node) return;
  node.classList.add("current");
  const entries = labelsOf(state.items[state.current]);
  state.label = Math.min(state.label, Math.max(0, entries.length - 1));
  const current = node.querySelector(`.chip[data-index="${state.label}"]`);
  if (current) current.classList.add("current-label");
  node.scrollIntoView({block: "nearest"});
}

function select(index, label) {
  state.current = Math.max(0, Math.min(index, state.items.length - 1));
  state.label = label || 0;
  highlight();
}

// --- deciding --------------------------------------------------------------------------------------

async function decide(decision, label) {
  const index = state.current;
  const item = state.items[index];
  if (!item) return;
  const entries = labelsOf(item);
  const target = label || (entries[state.label] || {}).label;
  if (!target) return;
  const position = state.label;
  try {
    state.items[index] = await api("api/decide", {photo: item.id, label: target, decision});
    if (state.current === index && !label && decision !== "clear") state.label = Math.min(position + 1, labelsOf(state.items[index]).length - 1);
    redraw(index);
    say(`${item.name}: ${decision === "clear" ? "decision taken back on" : decision + "ed"} ${target}`);
  } catch (error) {
    say(`not saved: ${error.message}`, true);
  }
}

async function acceptAll() {
  const item = state.items[state.current];
  if (!item) return;
  for (const entry of item.tags.filter((t) => !t.decision)) await decide("accept", entry.label);
}

async function bulk(decision) {
  const label = state.query.label;
  if (!label) return;
  const verb = {accept: "Accept", reject: "Reject", clear: "Clear the decisions on"}[decision];
  if (!window.confirm(`${verb} “${label}” on these ${state.total} photos?`)) return;
  try {
    const filter = {...state.query};
    const done = await api("api/bulk", {filter, label, decision, expected: state.total});
    say(`${verb} “${label}”: ${done.photos} photos`);
    await Promise.all([loadPage(), loadInfo()]);
  } catch (error) {
    say(`not saved: ${error.message}`, true);
  }
}

// --- adding a tag, with completion from the vocabulary ---------------------------------------------

const add = {open: false, choices: [], active: -1};

function openAdd() {
  const item = state.items[state.current];
  if (!item) return;
  add.open = true;
  $("add-photo").textContent = item.name;
  $("add-box").hidden = false;
  $("add-input").value = "";
  $("add-note").textContent = "";
  suggest();
  $("add-input").focus();
}

function closeAdd() {
  add.open = false;
  $("add-box").hidden = true;
  $("add-input").blur();
}

function suggest() {
  const text = $("add-input").value.trim().toLowerCase();
  const item = state.items[state.current];
  const have = new Set(item ? labelsOf(item).filter((e) => e.decision === "accept" || e.kind === "added").map((e) => e.label) : []);
  const pool = state.vocabulary.filter((label) => !have.has(label));
  const starts = pool.filter((label) => label.toLowerCase().startsWith(text));
  const contains = text ? pool.filter((label) => !label.toLowerCase().startsWith(text) && label.toLowerCase().includes(text)) : [];
  add.choices = text ? [...starts, ...contains].slice(0, 10) : [];
  add.active = add.choices.length ? 0 : -1;
  $("suggestions").replaceChildren(...add.choices.map((label, index) => {
    const option = el("li", {"class": index === add.active ? "suggestion active" : "suggestion", role: "option", "data-label": label}, label);
    option.addEventListener("mousedown", (event) => { event.preventDefault(); pick(label); });
    return option;
  }));
  $("add-note").textContent = text && !add.choices.length ? "not in the vocabulary" : "";
}

function moveSuggestion(step) {
  if (!add.choices.length) return;
  add.active = (add.active + step + add.choices.length) % add.choices.length;
  [...$("suggestions").children].forEach((node, index) => node.classList.toggle("active", index === add.active));
}

async function pick(label) {
  if (!state.known.has(label)) { $("add-note").textContent = "not in the vocabulary"; return; }
  closeAdd();
  await decide("accept", label);
}

$("add-input").addEventListener("input", suggest);
$("add-input").addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown") { event.preventDefault(); moveSuggestion(1); }
  else if (event.key === "ArrowUp") { event.preventDefault(); moveSuggestion(-1); }
  else if (event.key === "Enter") {
    event.preventDefault();
    const typed = $("add-input").value.trim();
    const exact = state.vocabulary.find((label) => label.toLowerCase() === typed.toLowerCase());
    const chosen = add.active >= 0 ? add.choices[add.active] : exact;
    if (chosen) pick(chosen); else $("add-note").textContent = "not in the vocabulary";
  } else if (event.key === "Escape") { event.preventDefault(); closeAdd(); }
  event.stopPropagation();
});
$("add-input").addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== $("add-input")) closeAdd(); }, 150));

// --- keys ------------------------------------------------------------------------------------------

async function step(delta) {
  const next = state.current + delta;
  if (next >= 0 && next < state.items.length) { select(next, 0); return; }
  if (delta > 0 && state.offset + PAGE < state.total) { state.offset += PAGE; await loadPage("first"); }
  else if (delta < 0 && state.offset > 0) { state.offset = Math.max(0, state.offset - PAGE); await loadPage("last"); }
}

function stepLabel(delta) {
  const item = state.items[state.current];
  if (!item) return;
  const count = labelsOf(item).length;
  if (count) { state.label = (state.label + delta + count) % count; highlight(); }
}

document.addEventListener("keydown", (event) => {
  const field = event.target.closest && event.target.closest("input, select, textarea");
  if (field || event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = {
    j: () => step(1), ArrowRight: () => step(1), k: () => step(-1), ArrowLeft: () => step(-1),
    ArrowDown: () => stepLabel(1), ArrowUp: () => stepLabel(-1),
    a: () => decide("accept"), r: () => decide("reject"), x: () => decide("reject"), u: () => decide("clear"),
    A: () => acceptAll(), t: () => openAdd(), "+": () => openAdd(),
    n: () => { if (!$("next").disabled) $("next").click(); }, p: () => { if (!$("prev").disabled) $("prev").click(); },
    Escape: () => closeAdd(),
  };
  const action = actions[event.key];
  if (action) { event.preventDefault(); action(); }
});

// --- the rest of the controls ----------------------------------------------------------------------

function filtersChanged() {
  state.query = readFilters();
  state.offset = 0;
  loadPage().catch((error) => say(error.message, true));
}

$("filters").addEventListener("submit", (event) => { event.preventDefault(); filtersChanged(); });
for (const id of ["f-where", "f-status", "f-sort", "f-label", "f-min", "f-max"]) $(id).addEventListener("change", filtersChanged);
$("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadPage(); });
$("next").addEventListener("click", () => { state.offset += PAGE; loadPage(); });
$("bulk-accept").addEventListener("click", () => bulk("accept"));
$("bulk-reject").addEventListener("click", () => bulk("reject"));
$("bulk-clear").addEventListener("click", () => bulk("clear"));
$("apply").addEventListener("click", async () => {
  const button = $("apply");
  button.disabled = true;
  say("applying…");
  try {
    const report = await api("api/apply", {});
    const skipped = report.skipped.map(([path, reason]) => `${path}: ${reason}`);
    const left = Object.keys(report.left_out);
    say(`applied: ${report.written} files written for ${report.photos} photos` +
        (skipped.length ? `; ${skipped.length} skipped (${skipped.join("; ")})` : "") +
        (left.length ? `; left out (not in the vocabulary): ${left.join(", ")}` : ""), skipped.length > 0);
  } catch (error) {
    say(`apply failed: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
});

(async () => {
  recall();
  try {
    await loadInfo();
    await loadPage();
    document.body.classList.add("ready");
  } catch (error) {
    say(error.message, true);
  }
})();
