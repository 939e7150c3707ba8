// vpclocal console: draws what GET /_vpclocal/console/topology describes, asks
// POST /_vpclocal/reach for the path between two clicked nodes, polls the live flows and
// shows the doctor's findings and the bill. Plain JavaScript, no library.
"use strict";

const API = "/_vpclocal";
// layout (pixels): fixed numbers, so the same topology always draws the same picture
const PAD = 16, COL_W = 300, COL_GAP = 16, AZ_H = 22, SUB_HEAD = 42, SUB_GAP = 12;
const CHIP_W = 138, CHIP_H = 34, CHIP_GAP = 8, GW_W = 190, GW_H = 30, POLL_MS = 2000;
const KINDS = {  // what owns an ENI: its icon and colour
  lambda: ["λ", "#dd6b20"], rds: ["DB", "#3c366b"], proxy: ["PX", "#553c9a"],
  cache: ["EC", "#c53030"], nat: ["NAT", "#6b46c1"], endpoint: ["EP", "#2c7a7b"],
  eni: ["ENI", "#718096"], igw: ["IGW", "#c05621"], "gateway-endpoint": ["GW", "#2c7a7b"],
  peering: ["PCX", "#6b46c1"],
};

const state = { topology: null, nodes: new Map(), pending: new Map(), marks: new Map(),
                selected: [], region: "", observer: null };
const $ = (id) => document.getElementById(id);

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function getJSON(path, options) {
  const answer = await fetch(path, options);
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || `${answer.status}`);
  return body;
}
function query(path) { return `${API}/${path}?region=${encodeURIComponent(state.region)}`; }

// ---- drawing -------------------------------------------------------------------------------

function chip(node, x, y, w, h, cls, icon, label, detail) {
  // one clickable node, placed at (x, y) in its parent (a subnet, or the canvas: cx, cy say
  // where that parent is); its centre on the canvas is remembered for the edges
  const [letters, colour] = KINDS[icon] || KINDS.eni;
  state.nodes.set(node.id, { ...node, x: node.cx + x + w / 2, y: node.cy + y + h / 2 });
  return () => `<div class="${["node", cls, ...(state.marks.get(node.id) || [])].join(" ")}"` +
    ` data-id="${esc(node.id)}" data-kind="${esc(icon)}" title="${esc(node.title)}" tabindex="0"` +
    ` style="left:${x}px;top:${y}px;width:${w}px;height:${h}px">` +
    `<i style="background:${colour}">${esc(letters)}</i><b>${esc(label)}</b>` +
    (detail ? `<span>${esc(detail)}</span>` : "") + "</div>";
}

function subnetHeight(subnet) {
  const rows = Math.max(1, Math.ceil(subnet.enis.length / 2));
  return SUB_HEAD + rows * (CHIP_H + CHIP_GAP) + 2;
}

function drawVpc(vpc) {
  // absolutely placed HTML boxes (each subnet skipped by the browser's rendering while it is
  // off screen: content-visibility) under one SVG overlay for the edges
  const canvas = `canvas-${vpc.id}`;
  const zones = vpc.zones.length ? vpc.zones : ["(no subnets)"];
  const band = [
    ...vpc.gateways.map((g) => ({ ...g, kind: g.type })),
    ...vpc.peerings.map((p) => ({ ...p, kind: "peering", label: `${p.label} ↔ ${p.peer_vpc}` })),
  ];
  const perRow = Math.max(1, Math.floor((zones.length * (COL_W + COL_GAP) - COL_GAP) / (GW_W + 10)));
  const bandH = band.length ? Math.ceil(band.length / perRow) * (GW_H + 10) : 0;
  const parts = [];
  band.forEach((g, i) => {
    const x = PAD + (i % perRow) * (GW_W + 10), y = PAD + Math.floor(i / perRow) * (GW_H + 10);
    const title = `${g.id} (${g.kind})` + (g.subnet ? ` in ${g.subnet}` : "") + (g.status ? ` ${g.status}` : "");
    // the engine takes an internet or NAT gateway as an end, not an endpoint or a peering
    const reach = g.kind === "igw" || g.kind === "nat" ? g.id : "";
    parts.push(chip({ id: g.id, kind: g.kind, reach, label: g.label,
                      title, canvas, cx: 0, cy: 0 },
      x, y, GW_W, GW_H, `gateway ${g.kind}`, g.kind, g.label, "")());
  });
  const top = PAD + bandH + (band.length ? 6 : 0);
  let height = top + AZ_H;
  zones.forEach((az, col) => {
    const x = PAD + col * (COL_W + COL_GAP);
    parts.push(`<div class="az-title" style="left:${x}px;top:${top}px">${esc(az)}</div>`);
    let y = top + AZ_H;
    for (const s of vpc.subnets.filter((s) => s.az === az)) {
      const h = subnetHeight(s), kind = s.public ? "public" : "private";
      const route = s.default_route ? `0.0.0.0/0 → ${s.default_route}` : "no internet route";
      state.nodes.set(s.id, { id: s.id, kind: "subnet", x: x + COL_W / 2, y: y + h / 2, canvas });
      // the subnet's interfaces are placed now and written into the page when the subnet
      // comes near the screen (fill): 10,000 of them would take seconds to build
      const chips = s.enis.map((e, i) => {
        const title = `${e.id} ${e.ip}${e.public_ip ? " / " + e.public_ip : ""} (${e.kind}: ${e.label})` +
          (e.functions.length ? `\nfunctions: ${e.functions.join(", ")}` : "") +
          `\ngroups: ${e.groups.join(", ")}`;
        return chip({ ...e, title, canvas, cx: x, cy: y },
          CHIP_GAP + (i % 2) * (CHIP_W + CHIP_GAP), SUB_HEAD + Math.floor(i / 2) * (CHIP_H + CHIP_GAP),
          CHIP_W, CHIP_H, `eni ${e.kind}`, e.kind, e.label, e.ip);
      });
      if (chips.length) state.pending.set(s.id, () => chips.map((html) => html()).join(""));
      parts.push(`<div class="subnet ${kind}" data-id="${esc(s.id)}"` +
        ` title="${esc(s.id)} ${esc(s.cidr)} ${esc(route)} (${esc(s.route_table || "")})"` +
        ` style="left:${x}px;top:${y}px;width:${COL_W}px;height:${h}px">` +
        `<div class="title">${esc(s.name || s.id)}</div><div class="badge">${kind.toUpperCase()}</div>` +
        `<div class="sub">${esc(s.cidr)} · ${esc(route)}</div>` +
        (chips.length ? "" : `<div class="sub empty">no network interfaces</div>`) + "</div>");
      y += h + SUB_GAP;
    }
    height = Math.max(height, y);
  });
  const width = PAD * 2 + zones.length * (COL_W + COL_GAP) - COL_GAP;
  height += PAD;
  return `<div class="vpc" id="vpc-${esc(vpc.id)}" data-id="${esc(vpc.id)}">` +
    `<h3 title="${esc(vpc.id)}">${esc(vpc.name || vpc.id)}<small>${esc(vpc.cidr)}` +
    `${vpc.default ? " · default VPC" : ""}${vpc.flow_logs ? " · flow log on" : ""}</small></h3>` +
    `<div class="canvas" id="${esc(canvas)}" style="width:${width}px;height:${height}px">` +
    parts.join("") + `<svg class="overlay" width="${width}" height="${height}"></svg></div></div>`;
}

function draw(topology) {
  // resolves once the subnets on screen hold their interfaces
  state.topology = topology;
  state.nodes = new Map();
  state.pending = new Map();
  if (state.observer) state.observer.disconnect();
  const diagram = $("diagram");
  diagram.innerHTML = topology.vpcs.length ? topology.vpcs.map(drawVpc).join("")
    : `<p class="muted">No VPC in ${esc(topology.region)}.</p>`;
  drawFlows(state.flows || []);
  if (!state.pending.size) return Promise.resolve();
  return new Promise((filled) => {
    state.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting) fill(entry.target);
      filled();
    }, { rootMargin: "400px" });
    for (const id of state.pending.keys()) {
      state.observer.observe(diagram.querySelector(`.subnet[data-id="${CSS.escape(id)}"]`));
    }
  });
}

function fill(subnet) {
  const html = state.pending.get(subnet.dataset.id);
  if (!html) return;
  state.pending.delete(subnet.dataset.id);
  state.observer.unobserve(subnet);
  subnet.insertAdjacentHTML("beforeend", html());
}

// ---- reachability --------------------------------------------------------------------------

function mark(id, cls) {
  // remembered, for the interfaces not yet in the page (fill)
  if (!state.marks.has(id)) state.marks.set(id, new Set());
  state.marks.get(id).add(cls);
  document.querySelectorAll(`[data-id="${CSS.escape(id)}"]`).forEach((el) => el.classList.add(cls));
}
function unmarkAll(...classes) {
  for (const set of state.marks.values()) for (const cls of classes) set.delete(cls);
  for (const cls of classes) document.querySelectorAll(`.${cls}`).forEach((el) => el.classList.remove(cls));
}

function choose(id) {
  const node = state.nodes.get(id);
  if (!node || !node.reach) {
    $("path-help").textContent = `${id} cannot be a source or destination here.`;
    return;
  }
  if (state.selected.length >= 2) state.selected = [];
  state.selected.push(id);
  unmarkAll("selected-src", "selected-dst", "on-path", "blocking");
  clearOverlay("path");
  state.selected.forEach((sid, i) => mark(sid, i ? "selected-dst" : "selected-src"));
  const [src, dst] = state.selected.map((sid) => state.nodes.get(sid));
  $("path-ends").textContent = dst ? `${src.label} → ${dst.label}` : `${src.label} → ?`;
  $("path-result").innerHTML = "";
  if (dst) {
    $("port").value = dst.port || $("port").value || 443;
    check();
  } else {
    $("path-help").textContent = "Now click the destination.";
  }
}

function hopText(hop) {
  const c = hop.component;
  const drawn = state.nodes.get(c.id);
  let text = `${c.type} ${c.id}` + (drawn && drawn.label && drawn.label !== c.id ? ` (${drawn.label})` : "");
  if (hop.direction) text += ` (${hop.direction})`;
  const rule = hop.rule;
  if (rule) {
    const ports = rule.PortRange ? ` ${rule.PortRange.From}-${rule.PortRange.To}` : "";
    const peer = rule.Cidr || rule.ReferencedGroupId || rule.PrefixListId || "";
    const proto = rule.Protocol === "-1" ? "all" : rule.Protocol || "";
    const number = rule.RuleNumber ? ` #${rule.RuleNumber}` : "";
    text += ` rule${number}: ${rule.RuleAction || "allow"} ${proto}${ports} ${peer}`.trimEnd();
  }
  if (hop.route) {
    const r = hop.route;
    text += ` route: ${r.DestinationCidr || r.DestinationPrefixListId || ""} → ${r.GatewayId || r.NatGatewayId || r.VpcPeeringConnectionId || r.VpcEndpointId || "local"}`;
  }
  return text;
}

async function check() {
  const [src, dst] = state.selected.map((id) => state.nodes.get(id));
  if (!dst) return;
  const port = parseInt($("port").value, 10);
  $("path-help").textContent = "Asking the reachability engine…";
  let result;
  try {
    result = await getJSON(`${API}/reach`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: src.reach, destination: dst.reach, protocol: "tcp",
                             port: Number.isNaN(port) ? null : port, region: state.region }),
    });
  } catch (err) {
    $("path-help").textContent = `The engine could not answer: ${err.message}`;
    return;
  }
  $("path-help").textContent = "Click a source, then a destination.";
  showPath(result, src, dst);
}

function showPath(result, src, dst) {
  // reachable: the path that gets through; else the first source interface's blocked path
  const analysis = result.reachable ? result.analysis : result.blocked[0];
  const hops = [...analysis.forward_path.map((h) => ({ ...h, path: "forward" })),
                ...analysis.return_path.map((h) => ({ ...h, path: "return" }))];
  const why = new Map(analysis.explanations.map((e) => [`${e.path}:${e.hop}`, e]));
  const items = hops.map((h) => {
    const e = why.get(`${h.path}:${h.sequence}`);
    const blocking = !h.allowed || e;
    return `<li class="hop${blocking ? " blocking" : ""}" data-component="${esc(h.component.id)}">` +
      `${h.path === "return" && h.sequence === 1 ? "<b>return:</b> " : ""}${esc(hopText(h))}` +
      (e ? `<span class="why">${esc(e.code)}: ${esc(e.message)}</span>` : "") + "</li>";
  }).join("");
  const loose = analysis.explanations.filter((e) => e.hop == null)
    .map((e) => `<p class="blocking-reason">${esc(e.code)}: ${esc(e.message)}</p>`).join("");
  const fixes = (analysis.fixes || []).map((f) =>
    `<div class="fix"><p>${esc(f.description)}${f.verified ? " (verified)" : ""}</p>` +
    f.commands.map((c) => `<pre class="fix-command">${esc(c)}</pre>`).join("") + "</div>").join("");
  const verdict = result.reachable ? "reachable" : "blocked";
  $("path-result").dataset.reachable = String(result.reachable);
  $("path-result").innerHTML =
    `<div class="verdict ${verdict}">${result.reachable ? "Reachable" : "Blocked"}: ` +
    `${esc(src.label)} → ${esc(dst.label)} ${esc(analysis.protocol)}/${esc(analysis.port)}</div>` +
    `<ol class="hops">${items}</ol>${loose}` +
    (fixes ? `<h2>Fix</h2>${fixes}` : "");
  // on the diagram: the nodes the path crosses, and the one that blocks it
  for (const h of hops) {
    const ids = [h.component.id, h.subnet_id].filter(Boolean);
    const blocking = !h.allowed || why.has(`${h.path}:${h.sequence}`);
    for (const id of ids) mark(id, "on-path");
    if (blocking) {
      // a security group or ACL blocks at the interface or subnet it guards
      const at = state.nodes.has(h.component.id) ? h.component.id : previousNode(hops, h);
      if (at) mark(at, "blocking");
    }
  }
  // the edge from the interface the engine tried (a function has one per subnet)
  const first = analysis.forward_path[0];
  const from = (first && state.nodes.get(first.component.id)) || src;
  clearOverlay("path");
  line(from, dst, result.reachable ? "path-ok" : "path-blocked", "path");
}

function previousNode(hops, hop) {
  // the last drawn node before this hop on its path (the ENI whose group or subnet refused)
  let found = null;
  for (const h of hops) {
    if (h === hop) break;
    if (h.path === hop.path && state.nodes.has(h.component.id)) found = h.component.id;
  }
  if (hop.direction === "ingress") {
    const next = hops.slice(hops.indexOf(hop) + 1).find((h) => h.path === hop.path && state.nodes.has(h.component.id));
    if (next) found = next.component.id;
  }
  return found;
}

// ---- edges: the path and the live flows ----------------------------------------------------

function clearOverlay(tag) {
  document.querySelectorAll(`.overlay [data-tag="${tag}"]`).forEach((el) => el.remove());
}

function line(a, b, cls, tag, title) {
  if (!a || !b || a.canvas !== b.canvas) return;  // edges across VPCs are listed, not drawn
  const overlay = document.querySelector(`#${CSS.escape(a.canvas)} .overlay`);
  if (!overlay) return;
  // a refused flow arcs higher than an accepted one between the same two nodes
  const bend = Math.max(30, Math.abs(a.x - b.x) / 4) * (/reject|blocked/.test(cls) ? 1.6 : 1);
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", `M${a.x},${a.y} C${a.x},${a.y - bend} ${b.x},${b.y - bend} ${b.x},${b.y}`);
  path.setAttribute("class", `edge ${cls}`);
  path.dataset.tag = tag;
  if (title) {
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = title;
    path.appendChild(t);
  }
  overlay.appendChild(path);
}

function nameOf(id) {
  const node = state.nodes.get(id);
  return node ? node.label || id : id;
}

function drawFlows(edges) {
  state.flows = edges;
  clearOverlay("flow");
  for (const e of edges) {
    const cls = e.action === "REJECT" ? "reject" : "accept";
    line(state.nodes.get(e.source), state.nodes.get(e.destination), cls, "flow",
      `${e.source} → ${e.destination}:${e.port} ${e.action} ${e.packets} packets`);
  }
}

async function pollFlows() {
  try {
    const answer = await getJSON(query("console/flows"));
    const edges = answer.edges;
    drawFlows(edges);
    const logged = (state.topology?.vpcs || []).some((v) => v.flow_logs);
    $("flows").innerHTML = !answer.counting ? `<p class="muted">The fabric is not running: nothing is counted.</p>`
      : edges.length ? `<table>${edges.map((e) => `<tr class="flow ${e.action.toLowerCase()}">` +
          `<td>${esc(nameOf(e.source))} → ${esc(nameOf(e.destination))}:${e.port}</td>` +
          `<td>${e.action}</td><td class="money">${e.packets} pkts</td></tr>`).join("")}</table>`
      : logged ? `<p class="muted">No traffic in the last minute.</p>`
      : `<p class="muted">The fabric counts flows in VPCs with a flow log ` +
        `(aws ec2 create-flow-logs …).</p>`;
  } catch (err) {
    $("flows").innerHTML = `<p class="muted">${esc(err.message)}</p>`;
  }
}

// ---- doctor and cost -----------------------------------------------------------------------

async function loadDoctor() {
  try {
    const { findings } = await getJSON(query("doctor"));
    $("doctor").innerHTML = findings.length ? findings.map((f) =>
      `<div class="finding" data-check="${esc(f.id)}"><span class="sev ${esc(f.severity)}">${esc(f.severity)}</span>` +
      `<b>${esc(f.id)}</b><p>${esc(f.message)}</p><p class="muted">${esc(f.rationale)}</p>` +
      f.fix.map((c) => `<pre>${esc(c)}</pre>`).join("") + "</div>").join("")
      : `<p class="muted">No findings.</p>`;
  } catch (err) {
    $("doctor").innerHTML = `<p class="muted">${esc(err.message)}</p>`;
  }
}

function money(n) { return n == null ? "—" : `$${n.toFixed(2)}`; }

async function loadCost() {
  try {
    const bill = await getJSON(query("cost"));
    const rows = bill.lines.map((l) => `<tr><td>${esc(l.service)}: ${esc(l.item)}` +
      (l.note ? `<br><span class="muted">${esc(l.note)}</span>` : "") +
      `</td><td class="money">${money(l.monthly)}</td></tr>`).join("");
    const savings = bill.savings.map((s) => `<tr><td><b>${esc(s.id)}</b> ${esc(s.message)}` +
      `<br><span class="muted">${esc(s.note)}</span></td>` +
      `<td class="money">${money(s.monthly_saving)}</td></tr>`).join("");
    $("cost").innerHTML = `<p><b id="cost-total">${money(bill.total)}</b> a month (${esc(bill.month)}, ` +
      `prices of ${esc(bill.prices.date)}, ${esc(bill.prices.region)})</p>` +
      (rows ? `<table>${rows}</table>` : "") +
      (savings ? `<h2>Savings of the doctor's fixes</h2><table>${savings}</table>` : "");
  } catch (err) {
    $("cost").innerHTML = `<p class="muted">${esc(err.message)}</p>`;
  }
}

// ---- start ---------------------------------------------------------------------------------

async function refresh() {
  $("status").textContent = "loading…";
  try {
    const topology = await getJSON(query("console/topology"));
    unmarkAll("on-path", "blocking");  // an earlier path's: ask again (Check)
    performance.mark("topology");
    await draw(topology);
    performance.mark("dom");
    const t = state.topology;
    const subnets = t.vpcs.reduce((n, v) => n + v.subnets.length, 0);
    const enis = t.vpcs.reduce((n, v) => n + v.subnets.reduce((m, s) => m + s.enis.length, 0), 0);
    $("status").textContent = `${t.vpcs.length} VPCs, ${subnets} subnets, ${enis} network interfaces`;
    // drawn: the next frame shows it (bench/console.py times this)
    requestAnimationFrame(() => requestAnimationFrame(() => {
      document.body.dataset.drawn = String(performance.now());
    }));
  } catch (err) {
    $("status").textContent = `topology: ${err.message}`;
  }
  loadDoctor();
  loadCost();
  pollFlows();
}

function start() {
  const params = new URLSearchParams(location.search);
  state.region = params.get("region") || "";
  $("region").value = state.region;
  $("region").addEventListener("change", () => { state.region = $("region").value.trim(); state.selected = []; refresh(); });
  $("refresh").addEventListener("click", refresh);
  $("check").addEventListener("click", check);
  $("diagram").addEventListener("click", (event) => {
    const node = event.target.closest(".node");
    if (node) choose(node.dataset.id);
  });
  $("diagram").addEventListener("keydown", (event) => {  // Enter on a focused node: a click
    const node = event.target.closest(".node");
    if (node && event.key === "Enter") choose(node.dataset.id);
  });
  refresh().then(() => {
    if (!state.region) $("region").value = state.topology?.region || "";
  });
  setInterval(pollFlows, POLL_MS);
}

start();
