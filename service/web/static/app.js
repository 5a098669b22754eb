// Dossier's reading page: plain DOM, no framework, no build step. Every text from the server is set with
// textContent (never as HTML). The API key lives in sessionStorage and travels only in the Authorization header.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const view = () => $("#view");
const KINDS = ["entities", "events", "claims", "quantities"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function headers(extra = {}) {
  const key = sessionStorage.getItem("dossier-key");
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

function toast(message) {
  const t = $("#toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 8000);
}

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: headers(opts.headers || {}) });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(`${res.status}: ${detail}`);
  }
  return res.status === 204 ? null : res.json();
}

const collection = () => $("#collection").value;
const withCollection = (path) => (collection() ? `${path}${path.includes("?") ? "&" : "?"}collection=${encodeURIComponent(collection())}` : path);
const reportLink = (docId, start, end) => `#/report/${encodeURIComponent(docId)}?start=${start}&end=${end}`;

// ---- Ask -------------------------------------------------------------------------------------------------------

function citeButton(c) {
  return el("a", { class: "cite", href: reportLink(c.document_id, c.start, c.end), title: c.quote,
    "aria-label": `source ${c.passage_number}: ${c.title}`, dataset: { quote: c.quote, doc: c.document_id } },
    `[${c.passage_number}]`);
}

function confidenceBadge(value, title = "calibrated probability that this sentence is right and stated by its source") {
  if (value === null || value === undefined) return "";
  const pct = Math.round(value * 100);
  return el("span", { class: "confidence", title }, `${pct}%`);
}

function sentenceNode(s, extra = "") {
  return el("span", { class: `sentence ${extra}` }, s.text, " ", s.citations.map(citeButton), " ", confidenceBadge(s.confidence), " ");
}

async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

function renderAsk() {
  const out = el("div", { id: "answer-area" });
  const form = el("form", { id: "ask-form", onsubmit: (e) => { e.preventDefault(); ask(form, out); } },
    el("label", { for: "question" }, "Question"),
    el("textarea", { id: "question", name: "question", rows: 2, maxlength: 500, required: true }),
    el("fieldset", {}, el("legend", {}, "Filters"),
      el("div", { class: "row" },
        el("label", {}, "Source", el("input", { name: "source", type: "text" })),
        el("label", {}, "Published from", el("input", { name: "published_from", type: "date" })),
        el("label", {}, "Published to", el("input", { name: "published_to", type: "date" })))),
    el("button", { type: "submit", id: "ask-button" }, "Ask"),
    el("span", { id: "ask-status", class: "muted", role: "status" }));
  view().replaceChildren(el("h2", {}, "Ask the reports"), form, out);
  $("#question").focus();
}

async function ask(form, out) {
  const data = new FormData(form);
  const body = { question: data.get("question"), stream: true };
  for (const k of ["source", "published_from", "published_to"]) if (data.get(k)) body[k] = data.get(k);
  if (collection()) body.collections = [collection()];
  const status = $("#ask-status"), button = $("#ask-button");
  const t0 = performance.now();
  const answerBox = el("div", { class: "answer", id: "answer", "aria-busy": "true" });
  const passages = el("details", { id: "passages" }, el("summary", {}, "Passages shown to the model"));
  out.replaceChildren(answerBox, passages);
  button.disabled = true;
  status.textContent = "Retrieving…";
  const streamed = [];
  let answered = false;
  try {
    const res = await fetch("/v1/ask", { method: "POST", body: JSON.stringify(body),
      headers: headers({ "Content-Type": "application/json" }) });
    if (!res.ok) throw new Error(`${res.status}: ${(await res.json()).detail}`);
    for await (const { event, data } of sseEvents(res)) {
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      if (event === "passages") {
        status.textContent = "Writing and verifying…";
        passages.append(el("ol", {}, data.shown.map((p) => el("li", { value: p.number },
          el("a", { href: reportLink(p.document_id, p.start, p.end) }, p.title), ": ", p.text))));
        if (data.withheld.length) passages.append(el("p", { class: "muted" }, `${data.withheld.length} passage(s) withheld as instructions to the model.`));
      } else if (event === "sentence") {
        if (!answerBox.dataset.firstSentenceS) {
          answerBox.dataset.firstSentenceS = seconds;
          status.textContent = `First verified sentence after ${seconds} s; checking the whole answer…`;
        }
        const node = sentenceNode(data.sentence, "pending");
        streamed[data.index] = node;
        answerBox.append(node);
      } else if (event === "retracted") {
        const node = streamed[data.index];
        if (node) { node.classList.add("retracted"); node.title = data.reason; }
      } else if (event === "answer") {
        answered = true;
        answerBox.dataset.answerS = seconds;
        renderAnswer(answerBox, out, data.answer);
        status.textContent = `Done in ${seconds} s.`;
      } else if (event === "error") {
        throw new Error(`${data.status}: ${data.detail}`);
      }
    }
    if (!answered) throw new Error("the stream ended before the answer");
  } catch (err) {
    status.textContent = "No answer.";
    for (const node of streamed) if (node) { node.classList.add("retracted"); node.title = "not confirmed: the answer did not complete"; }
    toast(`Ask failed — ${err.message}`);
  } finally {
    button.disabled = false;
    answerBox.setAttribute("aria-busy", "false");
  }
}

function renderAnswer(box, out, answer) {
  const threshold = answer.min_confidence === null ? "" : ` (threshold ${Math.round(answer.min_confidence * 100)}%)`;
  if (answer.abstained) {
    const held = answer.held_back;
    box.replaceChildren(el("p", { class: "abstained" }, answer.answer),
      ...(held ? [el("p", { class: "held-back muted", id: "held-back" }, "Held back: ", el("q", {}, held.text),
        ` — ${held.reason}${threshold}`)] : []));
  } else {
    box.replaceChildren(...answer.sentences.map((s) => sentenceNode(s)),
      el("p", { class: "muted", id: "confidence" }, `Confidence ${Math.round((answer.confidence ?? 0) * 100)}%${threshold}`));
  }
  const why = el("details", { id: "why-not" }, el("summary", {}, `Why not (${answer.rejected.length} rejected, ${answer.withheld.length} withheld)`));
  if (answer.rejected.length) why.append(el("h3", {}, "Rejected sentences"),
    el("ul", {}, answer.rejected.map((r) => el("li", {}, el("q", {}, r.text), " — ", el("span", { class: "muted" }, r.reason)))));
  if (answer.withheld.length) why.append(el("h3", {}, "Withheld passages"),
    el("ul", {}, answer.withheld.map((w) => el("li", {}, el("code", {}, w.passage_id), " — ", w.reason))));
  const meta = el("p", { class: "muted" }, `${answer.meta.prompt_id} v${answer.meta.prompt_version} · calibrator ${answer.meta.calibrator} · ${answer.meta.model} · settings ${answer.meta.settings_hash}`);
  $("#why-not", out)?.remove();
  out.append(why, meta);
}

// ---- Reports ---------------------------------------------------------------------------------------------------

function renderReports() {
  const list = el("div", { id: "report-list" });
  const progress = el("progress", { id: "upload-progress", max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
  const upload = el("form", { id: "upload-form", onsubmit: (e) => { e.preventDefault(); uploadReport(upload, progress, list); } },
    el("fieldset", {}, el("legend", {}, "Upload a report"),
      el("div", { class: "row" },
        el("label", {}, "File (.txt, .md, .html, .pdf)", el("input", { type: "file", name: "file", id: "upload-file", required: true })),
        el("label", {}, "Title", el("input", { type: "text", name: "title" })),
        el("label", {}, "Source", el("input", { type: "text", name: "source" })),
        el("label", {}, "Published", el("input", { type: "date", name: "published" })),
        el("button", { type: "submit", id: "upload-button" }, "Upload")),
      progress, el("p", { id: "upload-status", role: "status", class: "muted" })));
  const search = el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); loadReports(list, $("#search").value); } },
    el("label", {}, "Search titles", el("input", { type: "search", id: "search" })), el("button", { type: "submit" }, "Search"));
  view().replaceChildren(el("h2", {}, "Reports"), upload, search, list);
  loadReports(list, "");
}

function uploadReport(form, progress, list) {
  const data = new FormData(form);
  for (const [k, v] of [...data.entries()]) if (v === "") data.delete(k);
  if (collection()) data.set("collection", collection());
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/documents");
  for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
  progress.hidden = false;
  progress.value = 0;
  const status = $("#upload-status");
  status.textContent = "Uploading…";
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total); };
  xhr.upload.onload = () => { progress.value = 100; status.textContent = "Embedding…"; };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status >= 400) { status.textContent = ""; toast(`Upload failed — ${xhr.status}: ${body.detail}`); return; }
    status.replaceChildren(`${body.status}: `, el("a", { href: `#/report/${body.id}`, id: "uploaded-link" }, body.title),
      ` (${body.sentence_count} sentences)`);
    loadReports(list, "");
  };
  xhr.onerror = () => toast("Upload failed — the server did not answer");
  xhr.send(data);
}

// A table filled a page at a time from a list endpoint (`path` holds a query already), "More" while pages are left.
async function loadTable(list, path, headings, rowOf, empty, cursor = null) {
  try {
    const page = await api(cursor ? `${path}&cursor=${encodeURIComponent(cursor)}` : path);
    if (!cursor) list.replaceChildren(el("table", {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {})));
    $("tbody", list).append(...page.items.map(rowOf));
    $("#more", list)?.remove();
    if (page.next_cursor) list.append(el("button", { id: "more", type: "button", onclick: () => loadTable(list, path, headings, rowOf, empty, page.next_cursor) }, "More"));
    if (!cursor && !page.items.length) list.append(el("p", { class: "muted" }, empty));
  } catch (err) { toast(err.message); }
}

function loadReports(list, q) {
  return loadTable(list, withCollection(`/v1/documents?limit=20${q ? `&q=${encodeURIComponent(q)}` : ""}`),
    ["Title", "Source", "Published", "Collection", ""],
    (d) => el("tr", {},
      el("td", {}, el("a", { href: `#/report/${d.id}` }, d.title)), el("td", {}, d.source || ""),
      el("td", {}, d.published || ""), el("td", {}, d.collection), el("td", {}, el("a", { href: `#/facts/${d.id}` }, "facts"))),
    "No reports.");
}

// ---- One report, with a highlighted span or its facts -------------------------------------------------------------

function segmentText(text, spans) {
  // spans: [{start, end, cls, ids}] possibly overlapping; returns nodes where each piece carries every span over it.
  const cuts = new Set([0, text.length]);
  for (const s of spans) { cuts.add(s.start); cuts.add(s.end); }
  const points = [...cuts].filter((x) => x >= 0 && x <= text.length).sort((a, b) => a - b);
  const nodes = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const over = spans.filter((s) => s.start <= a && s.end >= b).sort((x, y) => (x.end - x.start) - (y.end - y.start));
    const piece = text.slice(a, b);
    if (!over.length) { nodes.push(piece); continue; }
    // The innermost span gives the colour; a piece under several spans is underlined.
    const cls = over[0].cls + (over.length > 1 ? " overlap" : "");
    nodes.push(el("mark", { class: cls, dataset: { spans: over.map((s) => s.id).join(" ") } }, piece));
  }
  return nodes;
}

function sentenceNodes(doc, spans) {
  // The report as its sentences (one element each, numbered), with `spans` highlighted inside them.
  const nodes = [];
  let at = 0;
  doc.sentences.forEach((sent, i) => {
    if (sent.start > at) nodes.push(doc.text.slice(at, sent.start));
    const inner = spans.filter((s) => s.start < sent.end && s.end > sent.start)
      .map((s) => ({ ...s, start: Math.max(s.start, sent.start) - sent.start, end: Math.min(s.end, sent.end) - sent.start }));
    nodes.push(el("span", { class: "sent", id: `s-${i}`, title: `sentence ${i + 1}`, dataset: { index: i } },
      segmentText(doc.text.slice(sent.start, sent.end), inner)));
    at = sent.end;
  });
  if (at < doc.text.length) nodes.push(doc.text.slice(at));
  return nodes;
}

async function renderReport(docId, params) {
  const doc = await api(`/v1/documents/${encodeURIComponent(docId)}`);
  const start = Number(params.get("start")), end = Number(params.get("end"));
  const spans = params.has("start") ? [{ start, end, cls: "cited", id: "cited" }] : [];
  const text = el("div", { class: "doc-text", id: "doc-text" }, sentenceNodes(doc, spans));
  view().replaceChildren(el("h2", {}, doc.title),
    el("p", { class: "muted" }, [doc.source, doc.published, `${doc.sentence_count} sentences`, doc.collection].filter(Boolean).join(" · "), " · ",
      el("a", { href: `#/facts/${doc.id}` }, "facts")), text);
  const first = $("mark.cited", text);
  if (first) { first.setAttribute("tabindex", "-1"); first.scrollIntoView({ block: "center" }); first.focus({ preventScroll: true }); }
}

async function renderFacts(docId) {
  if (!docId) {
    const list = el("div", {});
    view().replaceChildren(el("h2", {}, "Facts"), el("p", {}, "Pick a report:"), list);
    return loadReports(list, "");
  }
  const doc = await api(`/v1/documents/${encodeURIComponent(docId)}`);
  const status = el("p", { role: "status", class: "muted", id: "facts-status" });
  const run = el("button", { type: "button", id: "extract-button", onclick: () => extract(docId, status) }, "Extract facts");
  view().replaceChildren(el("h2", {}, `Facts — ${doc.title}`), el("div", { class: "row" }, run, status), el("div", { id: "facts-body" }));
  const page = await api(`/v1/documents/${encodeURIComponent(docId)}/extractions?limit=1`);
  if (page.items.length) showFacts(doc, page.items[0]);
  else status.textContent = "No extraction yet.";
}

async function extract(docId, status) {
  status.textContent = "Extracting… (about 15 s per window on the embedded model)";
  $("#extract-button").disabled = true;
  try {
    const res = await fetch(`/v1/documents/${encodeURIComponent(docId)}/extractions`, { method: "POST", body: "{}",
      headers: headers({ "Content-Type": "application/json" }) });
    const body = await res.json();
    if (!res.ok) throw new Error(`${res.status}: ${body.detail}`);
    if (res.status === 202) await pollJob(body.id, status);
    await renderFacts(docId);
  } catch (err) { toast(err.message); } finally { const b = $("#extract-button"); if (b) b.disabled = false; }
}

async function pollJob(jobId, status) {
  for (;;) {
    const job = await api(`/v1/jobs/${jobId}`);
    status.textContent = `Job ${job.state}: ${job.done}/${job.total}`;
    if (!["pending", "running"].includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function factLabel(f) {
  // The schema's fields, read as a line: entity (type), event — date, speaker stance: "statement", value unit of what.
  const v = f.fields;
  if (v.statement) return `${v.speaker || "?"} ${v.stance || ""}: “${v.statement}”`;
  if (v.name) return v.type ? `${v.name} (${v.type})` : v.name;
  if (v.what) return [v.what, v.date, v.place].filter(Boolean).join(" — ");
  if (v.value !== undefined) return [v.value, v.unit, v.measures ? `— ${v.measures}` : ""].filter(Boolean).join(" ");
  return Object.entries(v).filter(([k]) => !k.endsWith("_iso") && k !== "model_said").map(([k, x]) => `${k}: ${typeof x === "object" ? JSON.stringify(x) : x}`).join("; ");
}

function showFacts(doc, extraction) {
  const spans = [], rows = [];
  for (const kind of Object.keys(extraction.facts)) {
    extraction.facts[kind].forEach((f, i) => {
      const id = `${kind}-${i}`;
      f.evidence.forEach((ev, j) => spans.push({ start: ev.start, end: ev.end, cls: `ev k-${kind}`, id: `${id}.${j}`, text: ev.text }));
      const go = () => {
        document.querySelectorAll("mark.focus").forEach((m) => m.classList.remove("focus"));
        const marks = [...document.querySelectorAll("mark[data-spans]")].filter((m) => m.dataset.spans.split(" ").some((s) => s.startsWith(`${id}.`)));
        marks.forEach((m) => m.classList.add("focus"));
        if (marks[0]) marks[0].scrollIntoView({ block: "center" });
      };
      rows.push(el("tr", { class: "clickable", tabindex: 0, dataset: { fact: id }, onclick: go,
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } } },
        el("td", {}, el("span", { class: `badge` }, kind)), el("td", {}, factLabel(f)),
        el("td", {}, f.evidence.map((e) => `${e.start}–${e.end}`).join(", "))));
    });
  }
  const legend = el("p", { class: "legend", "aria-label": "Colours" }, KINDS.map((k) => el("mark", { class: `ev k-${k}` }, k)));
  const text = el("div", { class: "doc-text", id: "facts-text" }, sentenceNodes(doc, spans));
  text.dataset.evidence = JSON.stringify(spans.map((s) => ({ id: s.id, text: s.text })));
  $("#facts-body").replaceChildren(legend, el("div", { class: "split" }, text,
    el("div", {}, el("table", { id: "facts-table" }, el("thead", {}, el("tr", {}, ["Kind", "Fact", "Span"].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)))),
    el("p", { class: "muted" }, `${rows.length} facts · ${extraction.meta.prompt_id} v${extraction.meta.prompt_version} · ${extraction.meta.model}`));
}

// ---- Entities resolved across reports ------------------------------------------------------------------------------

const SAME_ENTITY = "the lowest calibrated probability, among the links that joined its reports, that two names are one entity";

function renderEntities() {
  const form = el("form", { id: "entity-search", class: "row" },
    el("label", { for: "entity-name" }, "Name or alias"), el("input", { id: "entity-name", name: "name", type: "search", maxlength: "200" }),
    el("label", { for: "entity-type" }, "Type"), el("input", { id: "entity-type", name: "type", maxlength: "64", placeholder: "person, country, ..." }),
    el("button", { type: "submit" }, "Search"));
  const list = el("div", { id: "entities-list" });
  form.addEventListener("submit", (e) => { e.preventDefault(); loadEntities(list, form.elements.name.value.trim(), form.elements.type.value.trim()); });
  view().replaceChildren(el("h2", {}, "Entities"),
    el("p", { class: "muted" }, "Who and what the extracted facts name, joined across reports by measured name and embedding similarity. Extract a report's facts to add its entities."),
    form, list);
  return loadEntities(list, "", "");
}

function loadEntities(list, name, type) {
  return loadTable(list, withCollection(`/v1/entities?limit=50${name ? `&name=${encodeURIComponent(name)}` : ""}${type ? `&type=${encodeURIComponent(type)}` : ""}`),
    ["Name", "Aliases", "Type", "Reports", "Reported", "Joined at"],
    (e) => el("tr", {},
      el("td", {}, el("a", { href: `#/entities/${encodeURIComponent(e.id)}` }, e.name)), el("td", {}, e.aliases.join(", ")),
      el("td", {}, e.type || ""), el("td", {}, String(e.documents)), el("td", {}, `${e.first_reported} – ${e.last_reported}`),
      el("td", {}, confidenceBadge(e.confidence, SAME_ENTITY))),
    "No entities yet.");
}

async function renderEntity(entityId) {
  const e = await api(withCollection(`/v1/entities/${encodeURIComponent(entityId)}`));
  const mentions = e.mentions.map((m) => el("li", {},
    el("a", { href: `#/report/${encodeURIComponent(m.document_id)}` }, m.document_title), ` (${m.reported}) names it “${m.name}”: `,
    m.evidence.map((ev) => el("a", { class: "quote", href: reportLink(m.document_id, ev.start, ev.end), "data-document": m.document_id, "data-start": String(ev.start), "data-end": String(ev.end) }, ev.text)).flatMap((a, i) => (i ? [" · ", a] : [a]))));
  view().replaceChildren(el("h2", {}, e.name),
    el("p", { class: "muted" }, `${e.type || "entity"} · ${e.documents} report(s), first ${e.first_reported}, last ${e.last_reported}`,
      e.aliases.length ? ` · also ${e.aliases.join(", ")}` : "", " · joined at ", confidenceBadge(e.confidence, SAME_ENTITY), e.calibrator ? ` (${e.calibrator})` : ""),
    el("h3", {}, "Mentions"), el("ul", { id: "mentions" }, ...mentions));
}

// ---- Digests and jobs --------------------------------------------------------------------------------------------

async function renderDigests() {
  const list = el("div", { id: "job-list" });
  const status = el("span", { role: "status", class: "muted" });
  const start = el("button", { type: "button", id: "batch-button", onclick: async () => {
    try {
      const body = collection() ? { collection: collection() } : {};
      const out = await api("/v1/summaries/batch", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
      status.textContent = out.message;
      loadJobs(list);
    } catch (err) { toast(err.message); }
  } }, "Summarise new reports");
  view().replaceChildren(el("h2", {}, "Digests & jobs"), el("div", { class: "row" }, start, status), list);
  await loadJobs(list);
}

async function loadJobs(list) {
  const page = await api("/v1/jobs?limit=20");
  list.replaceChildren(el("table", {}, el("thead", {}, el("tr", {}, ["Job", "Kind", "State", "Progress", "Created"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, page.items.map((j) => el("tr", {},
      el("td", {}, el("a", { href: `#/digest/${j.id}` }, j.id.slice(0, 12))), el("td", {}, j.kind), el("td", {}, j.state),
      el("td", {}, el("progress", { max: j.total || 1, value: j.done + j.failed, "aria-label": `${j.done} of ${j.total} done` }), ` ${j.done}/${j.total}`),
      el("td", {}, new Date(j.created_at).toLocaleString()))))));
  if (location.hash.startsWith("#/digests") && page.items.some((j) => ["pending", "running"].includes(j.state))) {
    clearTimeout(loadJobs.timer);
    loadJobs.timer = setTimeout(() => { if (location.hash.startsWith("#/digests")) loadJobs(list); }, 2000);
  }
}

async function renderDigest(jobId) {
  const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
  const body = el("div", { id: "digest" });
  view().replaceChildren(el("h2", {}, `Batch ${job.id.slice(0, 12)} — ${job.state}`),
    el("p", {}, el("progress", { max: job.total || 1, value: job.done + job.failed, "aria-label": "progress" }), ` ${job.done}/${job.total} done, ${job.failed} failed`), body);
  const titles = Object.fromEntries(job.items.map((i) => [i.document_id, i.title]));
  const summaries = el("div", {}, el("h3", {}, "Summaries"));
  const bySource = {};  // passage id -> ids of the summary sentences that cite it
  for (const item of job.items) {
    if (item.state !== "done" || job.kind !== "summaries") {
      summaries.append(el("p", {}, `${item.title || item.document_id}: ${item.state}${item.error ? ` — ${item.error}` : ""}`));
      continue;
    }
    try {
      const s = await api(`/v1/summaries/${item.document_id}`);
      summaries.append(el("section", { class: "point" }, el("h4", {}, el("a", { href: `#/report/${item.document_id}` }, s.title)),
        el("p", {}, s.sentences.map((x, i) => {
          const id = `sum-${item.document_id}-${i}`;
          x.citations.forEach((c) => { (bySource[c.passage_id] ||= []).push(id); });
          return el("span", { class: "sentence", id, tabindex: "-1" }, x.text, " ", x.citations.map(citeButton), " ", confidenceBadge(x.confidence), " ");
        }))));
    } catch (err) { summaries.append(el("p", {}, `${item.title}: ${err.message}`)); }
  }
  const jump = (id) => { const n = document.getElementById(id); if (n) { n.scrollIntoView({ block: "center" }); n.focus(); } };
  if (job.digest) {
    body.append(el("h3", {}, "Digest"), ...job.digest.points.map((p) => {
      const linked = [...new Set(p.citations.flatMap((c) => bySource[c.passage_id] || []))];
      return el("div", { class: "point" },
        el("span", { class: "badge" }, p.kind), p.detected_by === "judge" ? el("span", { class: "badge rule", title: "two reports' sentences the calibrated pair judgement found contradictory" }, `judged: P ${p.confidence.toFixed(2)}`) : null,
        p.text, " ", p.citations.map(citeButton),
        el("div", { class: "muted" }, "Reports: ", p.document_ids.map((d) => el("a", { href: `#/report/${d}` }, titles[d] || d)).flatMap((a, i) => (i ? [", ", a] : [a])),
          linked.length ? [" · summary sentences: ", linked.map((id, i) => el("button", { type: "button", class: "link", onclick: () => jump(id) }, `S${i + 1}`))] : null));
    }));
  } else if (job.digest_error) body.append(el("p", { class: "muted" }, `No digest: ${job.digest_error}`));
  else if (job.kind === "summaries") body.append(el("p", { class: "muted" }, "The digest is written when every report is summarised."));
  body.append(summaries);
}

// ---- Evals -------------------------------------------------------------------------------------------------------

async function renderEvals() {
  const report = await api("/v1/evals/latest");
  const rows = Object.entries(report.metrics || {}).map(([k, v]) => el("tr", {}, el("td", {}, k),
    el("td", {}, typeof v === "number" ? v.toFixed(3) : JSON.stringify(v)), el("td", {}, (report.counts || {})[k] ? JSON.stringify(report.counts[k]) : "")));
  const chart = el("img", { class: "chart", alt: `Metrics of eval run ${report.run}`, id: "eval-chart" });
  view().replaceChildren(el("h2", {}, "Latest eval"),
    el("p", { class: "muted" }, `${report.run} · ${report.model} · subset ${report.subset} · git ${report.git} · ${Math.round(report.wall_s)} s`),
    chart, el("table", {}, el("thead", {}, el("tr", {}, ["Metric", "Value", "Items"].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)));
  const res = await fetch("/v1/evals/latest/chart.png", { headers: headers() });
  if (res.ok) chart.src = URL.createObjectURL(await res.blob());
}

// ---- Shell -------------------------------------------------------------------------------------------------------

async function route() {
  const [path, query] = location.hash.slice(1).split("?");
  const parts = (path || "/ask").split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  const name = parts[0] || "ask";
  const section = { report: "reports", digest: "digests" }[name] || name;
  document.querySelectorAll("nav a").forEach((a) => (a.dataset.view === section ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
  const arg = parts[1] ? decodeURIComponent(parts[1]) : null;
  try {
    if (name === "ask") renderAsk();
    else if (name === "reports") renderReports();
    else if (name === "report") await renderReport(arg, params);
    else if (name === "facts") await renderFacts(arg);
    else if (name === "entities") await (arg ? renderEntity(arg) : renderEntities());
    else if (name === "digests") await renderDigests();
    else if (name === "digest") await renderDigest(arg);
    else if (name === "evals") await renderEvals();
    else view().replaceChildren(el("p", {}, "Not found."));
    document.title = `Dossier — ${section}`;
  } catch (err) {
    view().replaceChildren(el("p", { class: "muted" }, err.message));
  }
}

async function loadCollections() {
  try {
    const models = await api("/v1/models");
    const select = $("#collection"), keep = select.value;
    select.replaceChildren(el("option", { value: "" }, "all I may see"),
      ...models.data.filter((m) => m.id !== "dossier").map((m) => el("option", { value: m.id }, m.id)));
    select.value = keep;
  } catch (_) { /* a key is needed first */ }
}

document.addEventListener("DOMContentLoaded", () => {
  const key = $("#api-key");
  key.value = sessionStorage.getItem("dossier-key") || "";
  key.addEventListener("change", () => { sessionStorage.setItem("dossier-key", key.value.trim()); loadCollections(); route(); });
  $("#settings").addEventListener("submit", (e) => e.preventDefault());
  $("#collection").addEventListener("change", () => route());
  window.addEventListener("hashchange", route);
  loadCollections();
  route();
});
