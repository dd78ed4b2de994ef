// Service map: clients → gateways → routes → services, drawn in SVG.
// Exposes window.drawServiceMap(svg, map) for app.js.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const KINDS = ["client", "gateway", "route", "service"];
  const TITLES = { client: "clients", gateway: "gateways", route: "routes", service: "services" };
  const NODE_H = 40, GAP = 18, TOP = 30, PAD = 14;

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Colour class of an edge: its verdicts and error rate.
  function edgeClass(e) {
    if (e.flows > 0 && e.dropped + e.error === e.flows) return "bad dropped";
    if (e.error_rate >= 0.25) return "bad";
    if (e.error_rate > 0) return "warn";
    return "ok";
  }

  function draw(svg, map) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const width = Math.max(svg.clientWidth || 0, 720);
    const colW = width / KINDS.length;
    const nodeW = Math.max(140, Math.min(colW - 2 * PAD - 100, 240));
    const columns = KINDS.map(k => map.nodes.filter(n => n.kind === k));
    const rows = Math.max(1, ...columns.map(c => c.length));
    const height = TOP + rows * (NODE_H + GAP) + PAD;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.style.height = height + "px";
    KINDS.forEach((k, i) => {
      svg.appendChild(el("text", { x: i * colW + PAD, y: 16, class: "column" }, TITLES[k]));
    });
    if (map.nodes.length === 0) {
      svg.appendChild(el("text", { x: PAD, y: TOP + 20, class: "empty" }, "no flows yet: send traffic through a Gateway"));
      return;
    }
    const pos = {};
    columns.forEach((col, i) => {
      const offset = TOP + ((rows - col.length) * (NODE_H + GAP)) / 2;
      col.forEach((n, j) => {
        pos[n.id] = { x: i * colW + PAD, y: offset + j * (NODE_H + GAP) };
      });
    });
    const maxFlows = Math.max(1, ...map.edges.map(e => e.flows));
    const edges = el("g", { class: "edges" });
    const labels = el("g", { class: "edge-labels" });
    for (const e of map.edges) {
      const a = pos[e.source], b = pos[e.target];
      if (!a || !b) continue;
      const x1 = a.x + nodeW, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      const w = 2 + 6 * Math.sqrt(e.flows / maxFlows);
      const path = el("path", {
        d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
        class: "edge " + edgeClass(e),
        "stroke-width": w.toFixed(1),
        "data-source": e.source, "data-target": e.target,
      });
      const pct = Math.round(e.error_rate * 100);
      path.appendChild(el("title", {}, `${e.source} → ${e.target}\n${e.flows} flows: ${e.forwarded} forwarded, ${e.dropped} dropped, ${e.error} error, ${e.http_5xx} 5xx (${pct}% errors)`));
      edges.appendChild(path);
      labels.appendChild(el("text", { x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle", class: "edge-label" },
        pct > 0 ? `${e.flows} · ${pct}% err` : `${e.flows}`));
    }
    svg.appendChild(edges);
    svg.appendChild(labels);
    const nodes = el("g", { class: "nodes" });
    for (const n of map.nodes) {
      const p = pos[n.id];
      if (!p) continue;
      const g = el("g", { class: "node " + n.kind, transform: `translate(${p.x},${p.y})`, "data-id": n.id });
      g.appendChild(el("rect", { width: nodeW, height: NODE_H, rx: 6 }));
      g.appendChild(el("text", { x: 8, y: 13, class: "kind" }, n.kind));
      // Keep long names readable: trim the middle, full name on hover.
      const maxChars = Math.floor((nodeW - 16) / 7.2);
      const label = n.label.length > maxChars
        ? n.label.slice(0, Math.ceil(maxChars / 2) - 1) + "…" + n.label.slice(n.label.length - Math.floor(maxChars / 2) + 1)
        : n.label;
      g.appendChild(el("text", { x: 8, y: 31, class: "label" }, label));
      g.appendChild(el("title", {}, n.label));
      nodes.appendChild(g);
    }
    svg.appendChild(nodes);
  }

  window.drawServiceMap = draw;
})();
