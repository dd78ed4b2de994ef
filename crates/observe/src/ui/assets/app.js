// Live flow table and service map: polls /api/flows and /api/servicemap.
(function () {
  "use strict";
  const POLL_MS = 1000;
  const MAX_ROWS = 500;
  const form = document.getElementById("filters");
  const tbody = document.querySelector("#flows tbody");
  const svg = document.getElementById("service-map");
  const statusEl = document.getElementById("status");
  const countEl = document.getElementById("flow-count");
  const errorEl = document.getElementById("filter-error");
  const pauseBtn = document.getElementById("pause");
  let after = null;
  let paused = false;
  let generation = 0;
  let lastMap = null;

  function filterQuery() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      if (String(v).trim() !== "") params.append(k, String(v).trim());
    }
    return params;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function timeOf(t) {
    return typeof t === "string" && t.length >= 23 ? t.slice(11, 23) : (t || "");
  }

  function addRows(flows, highlight) {
    for (const f of flows) {
      const tr = document.createElement("tr");
      tr.dataset.seq = f.seq;
      if (highlight) tr.className = "new";
      cell(tr, timeOf(f.time));
      cell(tr, f.client);
      cell(tr, f.gateway);
      cell(tr, f.route);
      cell(tr, f.service);
      cell(tr, f.backend);
      cell(tr, f.method);
      cell(tr, f.path, "path");
      cell(tr, f.status, f.status ? "status status-" + String(f.status)[0] : "status");
      cell(tr, f.latency_ms === null || f.latency_ms === undefined ? "" : f.latency_ms.toFixed(1) + " ms");
      cell(tr, f.verdict, "verdict verdict-" + f.verdict);
      tbody.insertBefore(tr, tbody.firstChild);
    }
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
    countEl.textContent = tbody.rows.length + " shown";
  }

  async function getJson(url) {
    const resp = await fetch(url, { cache: "no-store" });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || resp.statusText);
    return body;
  }

  async function poll() {
    const gen = generation;
    const params = filterQuery();
    const flowParams = new URLSearchParams(params);
    if (after !== null) flowParams.set("after", after);
    try {
      const [flows, map] = await Promise.all([
        getJson("/api/flows?" + flowParams),
        getJson("/api/servicemap?" + params),
      ]);
      if (gen !== generation) return; // filters changed meanwhile
      errorEl.textContent = "";
      addRows(flows.flows, after !== null);
      if (flows.last_seq !== null && flows.last_seq !== undefined) after = flows.last_seq;
      lastMap = map;
      window.drawServiceMap(svg, map);
      statusEl.textContent = `live · ${flows.seen} flows seen · ${flows.lost} lost · ring ${flows.max}`;
    } catch (e) {
      if (gen !== generation) return;
      errorEl.textContent = String(e.message || e);
      statusEl.textContent = "error";
    }
  }

  async function loop() {
    if (!paused) await poll();
    setTimeout(loop, POLL_MS);
  }

  form.addEventListener("submit", ev => {
    ev.preventDefault();
    generation += 1;
    after = null;
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    poll();
  });
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "resume" : "pause";
  });
  window.addEventListener("resize", () => { if (lastMap) window.drawServiceMap(svg, lastMap); });
  loop();
})();
