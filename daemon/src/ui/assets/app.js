// canaryd status page and evidence report: renders the rollout list or one rollout from the
// daemon's JSON (or from data embedded in the page, for the self-contained report). Plain DOM
// and inline SVG; every text from the data goes through textContent, never innerHTML.
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var REFRESH_MS = 15000;
  // Decisions drawn as markers on the charts: the ones that change (or stop) the rollout.
  var MARKED_KINDS = ["start", "advance", "promote", "roll back", "pause", "resume", "fail"];

  var body = document.body;
  var root = document.getElementById("app");
  var token = new URLSearchParams(window.location.search).get("token");

  function withToken(url) {
    if (!token) return url;
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      node.setAttribute(key, String(value));
    });
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(node, c); });
    } else if (typeof child === "object") {
      node.appendChild(child);
    } else {
      node.appendChild(document.createTextNode(String(child)));
    }
  }

  // replaceChildren would print null as "null": skip absent parts.
  function fill(node, children) {
    node.replaceChildren();
    append(node, children);
  }

  function slug(text) {
    return String(text || "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  }

  function badge(text, kind) {
    return el("span", { "class": "badge " + slug(kind || text) }, text);
  }

  // Numbers may arrive as the strings "inf", "-inf", "NaN" (non-finite values in verdicts).
  function num(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "string") {
      if (value === "inf" || value === "+inf") return "∞";
      if (value === "-inf") return "−∞";
      return value;
    }
    if (!isFinite(value)) return String(value);
    var abs = Math.abs(value);
    if (digits !== undefined) return value.toFixed(digits);
    if (abs !== 0 && (abs < 0.001 || abs >= 1e6)) return value.toExponential(2);
    if (abs >= 100) return value.toFixed(0);
    if (abs >= 10) return value.toFixed(1);
    return value.toFixed(3).replace(/\.?0+$/, "");
  }

  function count(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
  }

  function time(text) {
    if (!text) return "–";
    var date = new Date(text);
    if (isNaN(date.getTime())) return text;
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
  }

  function clock(ms, withDate) {
    var iso = new Date(ms).toISOString();
    return withDate ? iso.slice(5, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16);
  }

  // ------------------------------------------------------------------ data

  function embeddedData() {
    var node = document.getElementById("canaryd-data");
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (error) {
      showError("The embedded data cannot be read: " + error.message);
      return null;
    }
  }

  function fetchJson(url) {
    return fetch(withToken(url), { headers: { "Accept": "application/json" } }).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (text) {
          throw new Error("HTTP " + response.status + (text ? ": " + text : ""));
        });
      }
      return response.json();
    });
  }

  function showError(message) {
    fill(root, el("p", { "class": "error", role: "alert" }, message));
  }

  // ------------------------------------------------------------------ list page

  function renderList(rollouts) {
    var rows = rollouts.map(function (r) {
      var href = withToken(body.dataset.base + "rollouts/" + encodeURIComponent(r.id));
      var phase = r.paused ? r.phase + " (paused)" : r.phase;
      return el("tr", { "data-rollout": r.id },
        el("td", null, el("a", { href: href }, r.id)),
        el("td", null, r.endpoint),
        el("td", null, r.canary, r.baseline ? el("span", { "class": "status" }, " vs " + r.baseline) : null),
        el("td", null, badge(phase, r.paused ? "paused" : r.phase)),
        el("td", { "class": "num" }, r.canary_percent === null ? "–" : r.canary_percent + "%",
          r.mirror_percent ? el("span", { "class": "status" }, " (+" + r.mirror_percent + "% mirrored)") : null),
        el("td", null, time(r.started_at)),
        el("td", null, time(r.updated_at)),
        el("td", null, r.problem ? el("span", { "class": "error" }, r.problem) : (r.last_decision || "–")));
    });
    var content = rollouts.length === 0
      ? el("p", { "class": "status" }, "No rollouts yet. canaryd starts one when a new deployment appears beside the baseline.")
      : el("table", { id: "rollouts" },
          el("caption", { "class": "visually-hidden" }, "Rollouts, most recently updated first"),
          el("thead", null, el("tr", null,
            ["Rollout", "Endpoint", "Canary", "Phase", "Canary traffic", "Started", "Updated", "Last decision"].map(function (h, i) {
              return el("th", { scope: "col", "class": i === 4 ? "num" : null }, h);
            }))),
          el("tbody", null, rows));
    fill(root, [el("h1", null, "Rollouts"), content]);
    document.title = "canaryd: rollouts";
    body.dataset.rendered = "list";
  }

  // ------------------------------------------------------------------ rollout page

  function renderRollout(data) {
    var view = data.rollout;
    var id = view.identity;
    var phaseBadge = badge(view.phase, view.paused ? "paused" : view.phase);
    var identity = el("dl", { "class": "identity" },
      el("dt", null, "Phase"), el("dd", { id: "phase" }, phaseBadge),
      el("dt", null, "Canary traffic"), el("dd", null, view.canary_percent + "%" + (view.mirror_percent ? " live, " + view.mirror_percent + "% mirrored" : "")),
      el("dt", null, "Endpoint"), el("dd", null, id.endpoint),
      el("dt", null, "Policy"), el("dd", null, id.policy_name + " ", el("code", { title: id.policy_hash }, id.policy_hash.slice(0, 12))),
      el("dt", null, "Baseline"), el("dd", null, id.baseline),
      el("dt", null, "Canary"), el("dd", null, id.canary),
      el("dt", null, "Started"), el("dd", null, time(view.started_at)),
      el("dt", null, "Updated"), el("dd", null, time(view.updated_at)),
      view.paused ? [el("dt", null, "Paused"), el("dd", null, view.paused.reason + " (since " + time(view.paused.since) + ")")] : null,
      view.final_reason ? [el("dt", null, "Outcome"), el("dd", { id: "final-reason" }, view.final_reason)] : null);

    var domain = timeDomain(view);
    var charts = el("section", { "class": "charts", "aria-labelledby": "charts-title" },
      el("h2", { id: "charts-title" }, "Traffic and figures per interval"),
      trafficChart(view, domain),
      latencyChart(view, domain),
      errorChart(view, domain));

    fill(root, [
      el("h1", null, "Rollout ", el("span", { id: "rollout-id" }, id.id)),
      identity,
      data.policy ? policySection(data.policy) : null,
      charts,
      stepsSection(view),
      decisionsSection(view)]);
    if (data.generated_at) {
      root.insertBefore(el("p", { "class": "status" }, "Evidence report generated " + time(data.generated_at) + " from the state database; it loads nothing from the network."), root.children[1]);
    }
    document.title = "canaryd: rollout " + id.id;
    body.dataset.rendered = "rollout";
    // Where each chart sits on the page (for the screenshot test and print layout checks).
    Array.prototype.forEach.call(document.querySelectorAll("svg.chart"), function (chart) {
      var box = chart.getBoundingClientRect();
      chart.setAttribute("data-box", [box.left + window.scrollX, box.top + window.scrollY, box.width, box.height].map(Math.round).join(","));
    });
  }

  function policySection(policy) {
    return el("section", { id: "policy", "aria-labelledby": "policy-title" },
      el("h2", { id: "policy-title" }, "Policy"),
      el("p", null, "Name ", el("strong", null, policy.name), ", content hash ", el("code", null, policy.hash),
        policy.path ? [", file ", el("code", null, policy.path)] : null, "."),
      policy.text !== null && policy.text !== undefined
        ? el("pre", { id: "policy-text" }, policy.text)
        : el("p", { "class": "status" }, policy.note || "The policy file is not available."));
  }

  function stepsSection(view) {
    var rows = view.steps.map(function (s) {
      return el("tr", null,
        el("td", { "class": "when" }, time(s.at)),
        el("td", null, badge(s.kind)),
        el("td", { "class": "num" }, s.canary_percent + "%"),
        el("td", { "class": "num" }, s.mirror_percent ? s.mirror_percent + "%" : "–"),
        el("td", null, s.phase_began || "–"),
        el("td", null, s.outcome),
        el("td", null, s.why || "–"));
    });
    return el("section", { id: "steps", "aria-labelledby": "steps-title" },
      el("h2", { id: "steps-title" }, "Steps (traffic changes)"),
      rows.length === 0 ? el("p", { "class": "status" }, "No traffic change yet.") :
      el("table", null,
        el("thead", null, el("tr", null, ["When", "Decision", "Canary live", "Canary mirrored", "Phase began", "Outcome", "Why"].map(function (h, i) {
          return el("th", { scope: "col", "class": i === 2 || i === 3 ? "num" : null }, h);
        }))),
        el("tbody", null, rows)));
  }

  function checksTable(checks) {
    return el("table", { "class": "checks" },
      el("thead", null, el("tr", null, ["Check", "Outcome", "Estimate", "Interval", "Threshold", "n baseline", "n canary", "Reason"].map(function (h, i) {
        return el("th", { scope: "col", "class": i >= 2 && i <= 6 ? "num" : null }, h);
      }))),
      el("tbody", null, checks.map(function (c) {
        return el("tr", { "data-check": c.name },
          el("td", null, c.name),
          el("td", null, badge(c.outcome.replace("_", " "), c.outcome)),
          el("td", { "class": "num" }, num(c.estimate)),
          el("td", { "class": "num" }, c.interval ? "[" + num(c.interval.lower) + ", " + num(c.interval.upper) + "]" : "–"),
          el("td", { "class": "num" }, num(c.threshold)),
          el("td", { "class": "num" }, count(c.n_baseline)),
          el("td", { "class": "num" }, count(c.n_canary)),
          el("td", null, c.reason));
      })));
  }

  function decisionsSection(view) {
    var list = el("div", { "class": "decisions", id: "decision-list" });
    var toggle = el("input", { type: "checkbox", id: "show-holds", checked: "checked" });
    function fill() {
      var showHolds = toggle.checked;
      list.replaceChildren();
      view.decisions.slice().reverse().forEach(function (d) {
        if (!showHolds && (d.kind === "hold" || d.kind === "noop")) return;
        var important = MARKED_KINDS.indexOf(d.kind) >= 0 || d.kind === "complete";
        list.appendChild(el("article", { "class": "decision kind-" + slug(d.kind), "data-kind": d.kind, "data-journal-id": d.journal_id },
          el("div", null,
            el("span", { "class": "when" }, time(d.at)),
            badge(d.kind),
            d.outcome ? [" ", el("span", null, "judge: "), badge(d.outcome.replace("_", " "), d.outcome)] : null),
          el("p", { "class": "text" }, d.text),
          d.window_start ? el("div", { "class": "meta" }, "Window " + time(d.window_start) + " → " + time(d.window_end)) : null,
          d.action ? el("div", { "class": "meta" }, "Action: " + d.action + (d.result ? " — " + d.result : " — result not recorded yet")) : null,
          d.summary ? el("div", { "class": "meta" }, "Verdict: " + d.summary) : null,
          d.evidence_problem ? el("div", { "class": "error" }, d.evidence_problem) : null,
          d.checks.length ? el("details", { open: important ? "open" : null },
            el("summary", null, d.checks.length + " check" + (d.checks.length === 1 ? "" : "s")),
            checksTable(d.checks)) : null,
          d.query ? el("details", null, el("summary", null, "Query"), el("pre", null, d.query)) : null));
      });
    }
    toggle.addEventListener("change", fill);
    fill();
    return el("section", { id: "decisions", "aria-labelledby": "decisions-title" },
      el("h2", { id: "decisions-title" }, "Decisions (" + view.decisions.length + "), newest first"),
      el("p", { "class": "filters" }, el("label", null, toggle, " show holds")),
      list);
  }

  // ------------------------------------------------------------------ charts

  var W = 1160, H = 250, M = { left: 64, right: 20, top: 34, bottom: 42 };

  function timeDomain(view) {
    var times = [];
    view.traffic.forEach(function (p) { times.push(Date.parse(p.at)); });
    view.intervals.forEach(function (i) { times.push(Date.parse(i.window_start), Date.parse(i.window_end)); });
    var min = Math.min.apply(null, times), max = Math.max.apply(null, times);
    if (!isFinite(min) || !isFinite(max)) { min = Date.now() - 60000; max = Date.now(); }
    if (max - min < 60000) max = min + 60000;
    // A little room on the right so the last point and marker are not on the frame.
    return [min, max + (max - min) * 0.02];
  }

  function niceStep(span, target) {
    var raw = span / target, power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= raw) return steps[i] * power;
    return 10 * power;
  }

  function timeTicks(domain) {
    var minutes = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];
    var span = domain[1] - domain[0], step = minutes[minutes.length - 1] * 60000;
    for (var i = 0; i < minutes.length; i++) {
      if (span / (minutes[i] * 60000) <= 8) { step = minutes[i] * 60000; break; }
    }
    var ticks = [];
    for (var t = Math.ceil(domain[0] / step) * step; t <= domain[1]; t += step) ticks.push(t);
    return ticks;
  }

  // A chart frame: scales, grid, axes, title for screen readers, and a legend.
  function frame(opts) {
    var x = function (t) { return M.left + (t - opts.domain[0]) / (opts.domain[1] - opts.domain[0]) * (W - M.left - M.right); };
    var y = function (v) { return H - M.bottom - (v - opts.yMin) / (opts.yMax - opts.yMin) * (H - M.top - M.bottom); };
    var chart = svg("svg", {
      "class": "chart", id: opts.id, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-labelledby": opts.id + "-title " + opts.id + "-desc", preserveAspectRatio: "xMidYMid meet"
    },
      svg("title", { id: opts.id + "-title" }, opts.title),
      svg("desc", { id: opts.id + "-desc" }, opts.desc));
    var grid = svg("g", { "class": "grid-lines" });
    var yStep = niceStep(opts.yMax - opts.yMin, 5);
    for (var v = opts.yMin; v <= opts.yMax + yStep / 1000; v += yStep) {
      grid.appendChild(svg("line", { "class": "grid", x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }));
      grid.appendChild(svg("text", { x: M.left - 8, y: y(v) + 4, "text-anchor": "end" }, opts.yFormat(v)));
    }
    var withDate = opts.domain[1] - opts.domain[0] > 20 * 3600 * 1000;
    timeTicks(opts.domain).forEach(function (t) {
      grid.appendChild(svg("line", { "class": "grid", x1: x(t), x2: x(t), y1: M.top, y2: H - M.bottom }));
      grid.appendChild(svg("text", { x: x(t), y: H - M.bottom + 16, "text-anchor": "middle" }, clock(t, withDate)));
    });
    chart.appendChild(grid);
    chart.appendChild(svg("line", { "class": "axis", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
    chart.appendChild(svg("line", { "class": "axis", x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }));
    chart.appendChild(svg("text", { x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle" }, "time (UTC)"));
    chart.appendChild(svg("text", { x: 14, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (M.top + H - M.bottom) / 2 + ")" }, opts.yLabel));
    return { svg: chart, x: x, y: y };
  }

  function legend(chart, entries) {
    var g = svg("g", { "class": "legend" });
    var xPos = M.left + 4;
    entries.forEach(function (entry) {
      g.appendChild(svg("line", { "class": "series " + entry.cls, x1: xPos, x2: xPos + 24, y1: 16, y2: 16 }));
      if (entry.point) g.appendChild(svg("circle", { "class": "legend-pt", cx: xPos + 12, cy: 16, r: 3.5, fill: entry.hollow ? "#fff" : "currentColor", stroke: "currentColor", style: "color: var(--" + entry.arm + ")" }));
      var label = svg("text", { "class": "legend", x: xPos + 30, y: 20 }, entry.label);
      g.appendChild(label);
      xPos += 30 + entry.label.length * 7 + 24;
    });
    g.appendChild(svg("line", { "class": "marker", x1: xPos, x2: xPos, y1: 8, y2: 24 }));
    g.appendChild(svg("text", { "class": "legend", x: xPos + 6, y: 20 }, "decision"));
    chart.svg.appendChild(g);
  }

  function markers(chart, view) {
    var g = svg("g", { "class": "markers" });
    var lastLabelX = -Infinity;
    view.decisions.forEach(function (d) {
      if (MARKED_KINDS.indexOf(d.kind) < 0) return;
      var px = chart.x(Date.parse(d.at));
      var bad = d.kind === "roll back" || d.kind === "fail";
      var line = svg("line", { "class": "marker" + (bad ? " bad" : ""), "data-kind": d.kind, x1: px, x2: px, y1: M.top, y2: H - M.bottom },
        svg("title", null, time(d.at) + " " + d.text));
      g.appendChild(line);
      if (px - lastLabelX > 56) {
        // Labels near the right edge sit on the left of their line.
        var right = px > W - M.right - 70;
        g.appendChild(svg("text", { "class": "marker-label" + (bad ? " bad" : ""), x: right ? px - 3 : px + 3, y: M.top + 11, "text-anchor": right ? "end" : "start" }, d.kind));
        lastLabelX = px;
      }
    });
    chart.svg.appendChild(g);
  }

  function stepPath(chart, points, value) {
    var d = "";
    points.forEach(function (p, i) {
      var px = chart.x(Date.parse(p.at)), py = chart.y(value(p));
      d += i === 0 ? "M" + px + "," + py : "H" + px + "V" + py;
    });
    return d;
  }

  function trafficChart(view, domain) {
    var chart = frame({
      id: "chart-traffic", domain: domain, yMin: 0, yMax: 100, yLabel: "% of live traffic",
      yFormat: function (v) { return v + "%"; },
      title: "Traffic over time",
      desc: "Step lines of the canary's and the baseline's share of live traffic; now " + view.canary_percent + "% on the canary."
    });
    var hasMirror = view.traffic.some(function (p) { return p.mirror_percent > 0; });
    legend(chart, [
      { cls: "canary", arm: "canary", label: "canary (" + view.identity.canary + ") live %" },
      { cls: "baseline", arm: "baseline", label: "baseline (" + view.identity.baseline + ") live %" }
    ].concat(hasMirror ? [{ cls: "canary dashed", arm: "canary", label: "canary mirrored %" }] : []));
    markers(chart, view);
    chart.svg.appendChild(svg("path", { "class": "series baseline", "data-series": "baseline-traffic", d: stepPath(chart, view.traffic, function (p) { return p.baseline_percent; }) }));
    if (hasMirror) {
      chart.svg.appendChild(svg("path", { "class": "series canary dashed", "data-series": "canary-mirror", d: stepPath(chart, view.traffic, function (p) { return p.mirror_percent; }) }));
    }
    chart.svg.appendChild(svg("path", { "class": "series canary", "data-series": "canary-traffic", d: stepPath(chart, view.traffic, function (p) { return p.canary_percent; }) }));
    chart.svg.setAttribute("data-points", view.traffic.length);
    return el("figure", null, el("figcaption", null, "Canary traffic over time, with the decisions that moved it"), chart.svg);
  }

  // One chart of per-interval values: each series a line through its points (circles), drawn
  // at the end of its window.
  function intervalChart(view, domain, opts) {
    var values = [];
    opts.series.forEach(function (s) {
      view.intervals.forEach(function (i) { var v = s.value(i); if (v !== null && v !== undefined) values.push(v); });
    });
    var yMax = values.length ? Math.max.apply(null, values) : 0;
    yMax = yMax > 0 ? yMax * 1.12 : opts.emptyMax;
    yMax = niceStep(yMax, 5) * Math.ceil(yMax / niceStep(yMax, 5));
    var chart = frame({ id: opts.id, domain: domain, yMin: 0, yMax: yMax, yLabel: opts.yLabel, yFormat: opts.yFormat, title: opts.title, desc: opts.desc });
    legend(chart, opts.series.map(function (s) { return { cls: s.cls, arm: s.arm, label: s.label, point: true, hollow: s.hollow }; }));
    markers(chart, view);
    opts.series.forEach(function (s) {
      var d = "", n = 0, points = svg("g", { "data-series": s.key });
      view.intervals.forEach(function (i) {
        var v = s.value(i);
        if (v === null || v === undefined) return;
        var px = chart.x(Date.parse(i.window_end)), py = chart.y(v);
        d += (n === 0 ? "M" : "L") + px + "," + py;
        n++;
        points.appendChild(svg("circle", { "class": "pt " + s.arm + (s.hollow ? " hollow" : ""), "data-point": s.key, cx: px, cy: py, r: 4 },
          svg("title", null, s.label + " " + opts.yFormat(v, true) + ", window ending " + time(i.window_end))));
      });
      chart.svg.appendChild(svg("path", { "class": "series " + s.cls, "data-series": s.key, d: d }));
      chart.svg.appendChild(points);
    });
    chart.svg.setAttribute("data-points", view.intervals.length);
    if (view.intervals.length === 0) {
      chart.svg.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No judged interval yet"));
    }
    return el("figure", null, el("figcaption", null, opts.caption), chart.svg);
  }

  function latencyChart(view, domain) {
    return intervalChart(view, domain, {
      id: "chart-latency", caption: "Latency per interval: p50 (solid) and p99 (dashed), canary vs baseline",
      title: "Latency quantiles per interval", yLabel: "milliseconds", emptyMax: 100,
      desc: view.intervals.length + " intervals; p50 and p99 latency of canary and baseline, one point per judged window.",
      yFormat: function (v, exact) { return exact ? v.toFixed(1) + " ms" : num(v); },
      series: [
        { key: "baseline-p99", cls: "baseline dashed", arm: "baseline", label: "baseline p99", hollow: true, value: function (i) { return i.baseline.p99_ms; } },
        { key: "canary-p99", cls: "canary dashed", arm: "canary", label: "canary p99", hollow: true, value: function (i) { return i.canary.p99_ms; } },
        { key: "baseline-p50", cls: "baseline", arm: "baseline", label: "baseline p50", value: function (i) { return i.baseline.p50_ms; } },
        { key: "canary-p50", cls: "canary", arm: "canary", label: "canary p50", value: function (i) { return i.canary.p50_ms; } }
      ]
    });
  }

  function errorChart(view, domain) {
    return intervalChart(view, domain, {
      id: "chart-errors", caption: "Error rate per interval (gateway 5xx and model errors), canary vs baseline",
      title: "Error rate per interval", yLabel: "error rate", emptyMax: 0.01,
      desc: view.intervals.length + " intervals; share of requests that failed, canary and baseline, one point per judged window.",
      yFormat: function (v) { return (v * 100).toFixed(v < 0.01 ? 2 : 1) + "%"; },
      series: [
        { key: "baseline-errors", cls: "baseline", arm: "baseline", label: "baseline", value: function (i) { return i.baseline.requests ? i.baseline.error_rate : null; } },
        { key: "canary-errors", cls: "canary", arm: "canary", label: "canary", value: function (i) { return i.canary.requests ? i.canary.error_rate : null; } }
      ]
    });
  }

  // ------------------------------------------------------------------ start

  function load() {
    var embedded = embeddedData();
    if (body.dataset.page === "list") {
      fetchJson(body.dataset.data).then(renderList, function (error) {
        showError("Cannot load the rollouts: " + error.message);
      });
      return;
    }
    if (embedded) {
      renderRollout(embedded);
      return;
    }
    fetchJson(body.dataset.data).then(function (view) {
      renderRollout({ rollout: view });
      if (view.active) window.setTimeout(load, REFRESH_MS);
    }, function (error) {
      showError("Cannot load rollout " + body.dataset.rollout + ": " + error.message);
    });
  }

  // Links rendered by the server carry the read token on; so do the ones made here.
  Array.prototype.forEach.call(document.querySelectorAll("a[data-keep-token]"), function (a) {
    a.setAttribute("href", withToken(a.getAttribute("href")));
  });
  load();
})();
