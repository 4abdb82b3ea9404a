// The script of `mltrain report --html` (reporting/html_page.py puts it into the page, inline).
"use strict";
(function () {
  const started = performance.now();  // plotly.js is parsed by now: what follows is this page's own work
  const data = JSON.parse(document.getElementById("mltrain-data").textContent);
  const runs = data.runs, sections = data.sections;
  const STATUSES = ["completed", "early_stopped", "pruned", "interrupted", "diverged", "failed", "running"];
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf"];
  const TOP = 5;  // runs per section whose curves are drawn at first
  const CONFIG = {displaylogo: false, displayModeBar: false, responsive: true};
  const selected = new Set();
  let focus = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function esc(s) {  // for Plotly's texts, which understand a few HTML tags
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function fmt(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(4);
    return String(v);
  }
  function cell(run, key) {
    if (key.startsWith("o:")) return run.overrides[key.slice(2)];
    if (key.startsWith("m:")) return run.metrics[key.slice(2)];
    return run[key];
  }

  function columns(sec) {
    const cols = [{key: "rank", label: "#"}, {key: "name", label: "run"}];
    for (const k of sec.keys) cols.push({key: "o:" + k, label: k});
    cols.push({key: "status", label: "status"}, {key: "best_epoch", label: "best epoch"},
              {key: "objective", label: sec.monitor});
    for (const m of sec.metrics) if (m !== sec.monitor) cols.push({key: "m:" + m, label: m});
    return cols;
  }

  function row(id, sec, cols) {
    const run = runs[id];
    const tr = el("tr", {"data-run": id});
    if (run.rank === 1) tr.classList.add("best");
    const box = el("input", {type: "checkbox", title: "draw this run's curves"});
    box.checked = selected.has(id);
    box.addEventListener("change", () => {
      if (box.checked) selected.add(id); else selected.delete(id);
      drawCurves(run.section);
    });
    const first = el("td"); first.appendChild(box); tr.appendChild(first);
    for (const c of cols) {
      const value = cell(run, c.key);
      const td = el("td", {class: typeof value === "number" ? "num" : c.key});
      if (c.key === "name") {
        const link = el("a", {title: "open the run's directory"}, run.name);
        link.href = run.href;  // built quoted by the report: a relative path, never a scheme
        td.appendChild(link);
        const show = el("button", {type: "button", title: "show below: confusion matrix, per-class scores"}, "view");
        show.addEventListener("click", () => setFocus(id));
        td.appendChild(document.createTextNode(" "));
        td.appendChild(show);
      } else if (c.key === "status") {
        const kind = STATUSES.includes(value) ? value : "other";
        td.appendChild(el("span", {class: "status status-" + kind, title: run.message}, value));
      } else if (c.key === "objective" && run.objective_std !== null) {
        td.textContent = fmt(value) + " ± " + run.objective_std.toPrecision(2);
      } else {
        td.textContent = fmt(value);
      }
      tr.appendChild(td);
    }
    return tr;
  }

  function sortBy(tbody, th, key) {
    const down = th.classList.contains("sorted-asc");
    for (const h of th.parentNode.children) h.classList.remove("sorted-asc", "sorted-desc");
    th.classList.add(down ? "sorted-desc" : "sorted-asc");
    const rows = Array.from(tbody.children);
    rows.sort((a, b) => {
      const x = cell(runs[a.dataset.run], key), y = cell(runs[b.dataset.run], key);
      const nx = x === null || x === undefined || x === "", ny = y === null || y === undefined || y === "";
      if (nx || ny) return nx - ny;  // nothing last, either way
      const fx = Number(x), fy = Number(y);
      const order = !isNaN(fx) && !isNaN(fy) ? fx - fy : String(x).localeCompare(String(y));
      return down ? -order : order;
    });
    for (const r of rows) tbody.appendChild(r);
  }

  function table(sec, i) {
    const cols = columns(sec);
    const tab = el("table", {class: "runs", id: "table-" + i});
    const head = el("tr");
    head.appendChild(el("th", {title: "draw the curves"}, "show"));
    const body = el("tbody");
    for (const c of cols) {
      const th = el("th", {title: "sort"}, c.label);
      th.addEventListener("click", () => sortBy(body, th, c.key));
      head.appendChild(th);
    }
    const thead = el("thead"); thead.appendChild(head); tab.appendChild(thead);
    for (const id of sec.runs) body.appendChild(row(id, sec, cols));
    tab.appendChild(body);
    return tab;
  }

  function bases(ids) {  // loss first, then each metric: one plot each, training dashed, validation solid
    const found = [];
    for (const id of ids) for (const c of Object.keys(runs[id].curves.columns)) {
      const base = c.replace(/^(val_|test_)/, "");
      if (!c.startsWith("test_") && !found.includes(base)) found.push(base);
    }
    return found.sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : 0));
  }

  function curveTraces(id, base, color, sec) {
    const run = runs[id], curves = run.curves, traces = [];
    const label = esc(run.label) + (curves.folds ? " (mean of " + curves.folds + " folds)" : "");
    const val = curves.columns["val_" + base], std = curves.std && curves.std["val_" + base];
    if (val && std) {  // k-fold: the folds' mean +- std as a band
      const up = val.map((v, j) => (v === null || std[j] === null ? null : v + std[j]));
      const down = val.map((v, j) => (v === null || std[j] === null ? null : v - std[j]));
      traces.push({x: curves.epoch, y: up, mode: "lines", line: {width: 0}, showlegend: false,
                   hoverinfo: "skip", legendgroup: id, meta: "band"});
      traces.push({x: curves.epoch, y: down, mode: "lines", line: {width: 0}, fill: "tonexty",
                   fillcolor: color + "33", showlegend: false, hoverinfo: "skip", legendgroup: id, meta: "band"});
    }
    if (curves.columns[base]) {
      traces.push({x: curves.epoch, y: curves.columns[base], name: label + " train", mode: "lines+markers",
                   marker: {size: 3}, line: {color: color, dash: "dash"}, legendgroup: id, meta: "train"});
    }
    if (val) {
      traces.push({x: curves.epoch, y: val, name: label + " val", mode: "lines+markers", marker: {size: 3},
                   line: {color: color}, legendgroup: id, meta: "val"});
    }
    const best = run.best_epoch, shown = val || curves.columns[base];
    const at = curves.epoch.indexOf(Math.round(best));
    if (best !== null && shown && at >= 0 && Number.isInteger(best)) {
      traces.push({x: [best], y: [shown[at]], mode: "markers", name: "best epoch", showlegend: false,
                   marker: {symbol: "star", size: 12, color: color, line: {color: "#000", width: 1}},
                   legendgroup: id, meta: "best"});
    }
    return traces;
  }

  function drawCurves(i) {
    const sec = sections[i], box = document.getElementById("curves-" + i);
    if (!box) return;
    const ids = sec.runs.filter(id => selected.has(id) && runs[id].curves);
    box.replaceChildren();
    if (!ids.length) { box.appendChild(el("p", {class: "note"}, "Tick runs in the table to draw their curves.")); return; }
    for (const base of bases(ids)) {
      const div = el("div", {class: "plot curve", "data-metric": base, "data-runs": ids.join(" ")});
      box.appendChild(div);
      const traces = [];
      ids.forEach((id, n) => traces.push(...curveTraces(id, base, COLORS[n % COLORS.length], sec)));
      Plotly.newPlot(div, traces, {title: {text: esc(base) + " (train dashed, validation solid, ★ best)"},
        xaxis: {title: {text: "epoch"}}, yaxis: {title: {text: esc(base)}}, margin: {t: 40, r: 10},
        legend: {font: {size: 10}, orientation: "h", y: -0.3}}, CONFIG);
    }
  }

  function numeric(values) { return values.every(v => v === "" || !isNaN(Number(v))); }

  function drawSweep(sec, i, box) {
    const ids = sec.runs.filter(id => runs[id].objective !== null);
    if (!sec.keys.length || ids.length < 2) return;
    box.appendChild(el("h3", {}, "Objective (" + sec.monitor + ") against each swept parameter"));
    const plots = el("div", {class: "plots"}); box.appendChild(plots);
    const best = sec.runs[0];
    for (const key of sec.keys) {
      const div = el("div", {class: "plot sweep", "data-key": key}); plots.appendChild(div);
      const xs = ids.map(id => runs[id].overrides[key]), num = numeric(xs);
      const x = num ? xs.map(v => (v === "" ? null : Number(v))) : xs.map(esc);  // "": not set in that run
      const names = ids.map(id => esc(runs[id].name));
      const traces = [{x: x, y: ids.map(id => runs[id].objective), text: names, mode: "markers",
                       name: "trials", marker: {size: 8, color: "#1f77b4"}}];
      if (runs[best].objective !== null) {
        const v = runs[best].overrides[key];
        traces.push({x: [num ? Number(v) : esc(v)], y: [runs[best].objective], mode: "markers",
                     name: "best", text: [esc(runs[best].name)], marker: {size: 14, color: "#d62728", symbol: "star"}});
      }
      const set = x.filter(v => v !== null);
      const log = num && set.every(v => v > 0) && Math.max(...set) / Math.min(...set) >= 100;
      Plotly.newPlot(div, traces, {title: {text: esc(key)}, xaxis: {title: {text: esc(key)},
        type: num ? (log ? "log" : "linear") : "category"}, yaxis: {title: {text: esc(sec.monitor)}},
        margin: {t: 40, r: 10}, showlegend: false}, CONFIG);
    }
    drawParallel(sec, ids, best, box);
  }

  // parallel coordinates: one line per trial across the swept parameters and the objective, drawn as
  // lines (no WebGL, so it renders in any browser and in headless CI); the best trial in red
  function drawParallel(sec, ids, best, box) {
    box.appendChild(el("h3", {}, "All trials across the parameters (parallel coordinates)"));
    const div = el("div", {class: "plot parallel", style: "width:100%;max-width:1100px"}); box.appendChild(div);
    const axes = [...sec.keys, sec.monitor];
    const scaled = axes.map((key, a) => {
      const raw = ids.map(id => (a < sec.keys.length ? runs[id].overrides[key] : runs[id].objective));
      if (numeric(raw)) {
        const v = raw.map(x => (x === "" || x === null ? null : Number(x))), set = v.filter(x => x !== null);
        const lo = Math.min(...set), hi = Math.max(...set);
        const pos = v.map(x => (x === null ? null : hi > lo ? (x - lo) / (hi - lo) : 0.5));
        return {pos: pos, ticks: [[0, 1], [fmt(lo), fmt(hi)]]};
      }
      const levels = [...new Set(raw.map(String))].sort();
      const at = s => (levels.length > 1 ? levels.indexOf(String(s)) / (levels.length - 1) : 0.5);
      return {pos: raw.map(at), ticks: [levels.map(at), levels.map(esc)]};
    });
    const line = (n) => axes.map((_, a) => scaled[a].pos[n]);
    const xs = [], ys = [];
    ids.forEach((id, n) => { xs.push(...axes.map((_, a) => a), null); ys.push(...line(n), null); });
    const traces = [{x: xs, y: ys, mode: "lines", line: {color: "#1f77b466", width: 1}, name: "trials", hoverinfo: "skip"}];
    const b = ids.indexOf(best);
    if (b >= 0) traces.push({x: axes.map((_, a) => a), y: line(b), mode: "lines+markers", name: "best",
                             line: {color: "#d62728", width: 3}, text: axes.map(() => esc(runs[best].name))});
    const annotations = [];
    scaled.forEach((s, a) => s.ticks[0].forEach((p, k) => annotations.push({x: a, y: p, text: s.ticks[1][k],
      showarrow: false, xanchor: "left", xshift: 4, font: {size: 10}})));
    Plotly.newPlot(div, traces, {xaxis: {tickvals: axes.map((_, a) => a), ticktext: axes.map(esc), range: [-0.2, axes.length - 0.4]},
      yaxis: {visible: false, range: [-0.05, 1.05]}, annotations: annotations, margin: {t: 20, r: 10, l: 10},
      showlegend: false}, CONFIG);
  }

  function setFocus(id) {
    focus = id;
    for (const tr of document.querySelectorAll("tr[data-run]")) tr.classList.toggle("focus", tr.dataset.run === id);
    const box = document.getElementById("focus-body"), run = runs[id];
    box.replaceChildren(el("p", {}, run.name));
    if (!run.classes) { box.appendChild(el("p", {class: "note"}, "Not a classifier, or it saved no per-class report.")); return; }
    if (run.classes.fold !== null) box.appendChild(el("p", {class: "note"}, "k-fold run: fold " + run.classes.fold + "'s validation rows"));
    const m = run.classes.matrix;
    if (m) {
      const div = el("div", {class: "plot confusion", "data-run": id}); box.appendChild(div);
      const labels = m.classes.map(esc);
      Plotly.newPlot(div, [{z: m.counts, x: labels, y: labels, type: "heatmap", colorscale: "Blues", reversescale: true,
        texttemplate: "%{z}", hovertemplate: "true %{y}, predicted %{x}: %{z}<extra></extra>"}],
        {title: {text: "confusion matrix (validation rows)"}, xaxis: {title: {text: "predicted"}, type: "category"},
         yaxis: {title: {text: "true"}, type: "category", autorange: "reversed"}, margin: {t: 40}},
        CONFIG);
    } else {
      box.appendChild(el("p", {class: "note"}, "No confusion_matrix.json in this run (written by mltrain since the HTML report)."));
    }
    const tab = el("table", {class: "per-class"}), head = el("tr");
    for (const h of ["class", "precision", "recall", "F1", "support"]) head.appendChild(el("th", {}, h));
    tab.appendChild(head);
    for (const r of run.classes.report) {
      const tr = el("tr");
      r.forEach((v, k) => tr.appendChild(el("td", {class: k ? "num" : ""}, fmt(v))));
      tab.appendChild(tr);
    }
    box.appendChild(tab);
  }

  function drawDiff() {
    const a = document.getElementById("run-a").value, b = document.getElementById("run-b").value;
    const box = document.getElementById("diff");
    box.replaceChildren();
    const tab = el("table", {class: "diff"}), head = el("tr");
    for (const h of ["", "key", runs[a].name, runs[b].name]) head.appendChild(el("th", {}, h));
    tab.appendChild(head);
    let count = 0;
    for (const part of ["config", "data", "code", "command", "versions", "metrics"]) {
      const left = runs[a].diff[part] || {}, right = runs[b].diff[part] || {};
      const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
      const differ = keys.filter(k => (left[k] ?? "-") !== (right[k] ?? "-"));
      if (!differ.length) {
        const tr = el("tr"); tr.appendChild(el("td", {}, part));
        tr.appendChild(el("td", {colspan: 3, class: "note"}, keys.length ? "same" : "not recorded"));
        tab.appendChild(tr);
      }
      for (const k of differ) {
        const tr = el("tr", {class: "differs"});
        for (const [v, c] of [[part, ""], [k, "key"], [left[k] ?? "-", ""], [right[k] ?? "-", ""]]) tr.appendChild(el("td", {class: c}, v));
        tab.appendChild(tr); count += 1;
      }
    }
    box.appendChild(el("p", {}, count + " difference" + (count === 1 ? "" : "s")));
    box.appendChild(tab);
  }

  function filter(text) {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    for (const tr of document.querySelectorAll("table.runs tbody tr")) {
      const hay = tr.textContent.toLowerCase();
      tr.hidden = !words.every(w => hay.includes(w));
    }
  }

  const main = document.getElementById("sections");
  const total = Object.keys(runs).length;
  document.getElementById("summary").textContent =
    total + " run" + (total === 1 ? "" : "s") + " in " + sections.length + " section" + (sections.length === 1 ? "" : "s") +
    ", best first. Click a heading to sort; tick runs to draw their curves; 'view' shows a classifier's confusion matrix.";
  sections.forEach((sec, i) => {
    sec.runs.filter(id => runs[id].curves).slice(0, TOP).forEach(id => selected.add(id));
    const box = el("section", {class: "section", id: "section-" + i});
    box.appendChild(el("h2", {}, sec.title));
    box.appendChild(table(sec, i));
    box.appendChild(el("h3", {}, "Learning curves"));
    box.appendChild(el("div", {class: "plots", id: "curves-" + i}));
    const sweep = el("div", {class: "sweep-views", id: "sweep-" + i});
    box.appendChild(sweep);
    main.appendChild(box);
    drawCurves(i);
    drawSweep(sec, i, sweep);
  });
  const pick = sections.find(s => s.task === "classification") || sections[0];
  if (pick && pick.runs.length) setFocus(pick.runs[0]);
  const ids = sections.flatMap(s => s.runs);
  for (const [n, which] of [[0, "run-a"], [1, "run-b"]]) {
    const select = document.getElementById(which);
    for (const id of ids) select.appendChild(el("option", {value: id}, runs[id].name));
    select.value = ids[Math.min(n, ids.length - 1)];
    select.addEventListener("change", drawDiff);
  }
  if (ids.length) drawDiff();
  document.getElementById("filter").addEventListener("input", e => filter(e.target.value));
  document.body.setAttribute("data-script-ms", (performance.now() - started).toFixed(0));
  document.body.setAttribute("data-ready-ms", performance.now().toFixed(0));
})();
