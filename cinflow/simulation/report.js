// Draws the report's charts as SVG from the embedded JSON. No libraries, no network.
// Data from the database only ever reaches the page as text (textContent,
// createTextNode, setAttribute): never through innerHTML or markup strings.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("data").textContent);
  var S = DATA.summary, AUTH = Object.keys(S.authorities);
  var NS = "http://www.w3.org/2000/svg";
  var COLOURS = ["#2a9d8f", "#e9c46a", "#e76f51", "#264653", "#8ab17d", "#b56576", "#6d597a", "#457b9d", "#f4a261"];
  var drawn = 0;

  function el(name, attrs, parent, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function svg(parent, w, h) { return el("svg", {viewBox: "0 0 " + w + " " + h, width: w, height: h}, parent); }
  function legend(parent, items) {
    var d = document.createElement("div"); d.className = "legend";
    items.forEach(function (it) {
      var s = document.createElement("span"), i = document.createElement("i");
      i.style.background = it[1]; s.appendChild(i); s.appendChild(document.createTextNode(it[0])); d.appendChild(s);
    });
    parent.appendChild(d);
  }
  function mark(id) { drawn += 1; document.getElementById(id).setAttribute("data-drawn", "yes"); }

  // 1. Deadline compliance: stacked bars per deadline, a block per authority.
  (function () {
    var host = document.getElementById("compliance");
    var parts = [["met", "#2a9d8f"], ["late", "#e9c46a"], ["overdue", "#f4a261"], ["missed", "#e76f51"]];
    legend(host, parts);
    AUTH.forEach(function (a) {
      var comp = S.authorities[a].deadline_compliance, names = Object.keys(comp).sort();
      var box = document.createElement("div"); box.className = "small"; host.appendChild(box);
      var h3 = document.createElement("h3"); h3.textContent = a; box.appendChild(h3);
      var W = 420, row = 22, g = svg(box, W, names.length * row + 10);
      names.forEach(function (n, i) {
        var c = comp[n], total = c.met + c.late + c.overdue + c.missed, x = 150;
        el("text", {x: 0, y: i * row + 15, "font-size": 11}, g, n);
        parts.forEach(function (p) {
          var w = total ? (c[p[0]] / total) * (W - 160) : 0;
          el("rect", {x: x, y: i * row + 4, width: w.toFixed(1), height: row - 8, fill: p[1]}, g)
            .appendChild(el("title", {}, null, n + ": " + c[p[0]] + " " + p[0]));
          x += w;
        });
      });
    });
    mark("compliance");
  })();

  // 2. Monthly workload by role: a line per role, a chart per authority.
  (function () {
    var host = document.getElementById("workload");
    var series = [["visits: social_worker", "visits (social worker)"], ["team_manager", "chaired by a team manager"],
                  ["practice_lead", "chaired by a practice lead"], ["iro", "chaired by an IRO"],
                  ["social_worker", "chaired by a social worker"]];
    legend(host, series.map(function (s, i) { return [s[1], COLOURS[i]]; }));
    AUTH.forEach(function (a) {
      var wl = S.authorities[a].workload, months = Object.keys(wl).sort();
      var values = series.map(function (s) {
        return months.map(function (m) {
          var r = wl[m].role;
          if (s[0].indexOf(":") > 0) return r[s[0]] || 0;
          return (r["chaired initial: " + s[0]] || 0) + (r["chaired review: " + s[0]] || 0);
        });
      });
      var max = 1; values.forEach(function (v) { v.forEach(function (x) { if (x > max) max = x; }); });
      var box = document.createElement("div"); box.className = "small"; host.appendChild(box);
      var h3 = document.createElement("h3"); h3.textContent = a; box.appendChild(h3);
      var W = 420, H = 200, L = 40, B = 30, g = svg(box, W, H);
      el("line", {x1: L, y1: H - B, x2: W - 5, y2: H - B, stroke: "#999"}, g);
      el("text", {x: 0, y: 12, "font-size": 10}, g, String(max));
      var step = months.length > 1 ? (W - L - 10) / (months.length - 1) : 0;
      months.forEach(function (m, i) {
        if (i % 2 === 0) el("text", {x: L + i * step - 14, y: H - 10, "font-size": 9}, g, m);
      });
      values.forEach(function (v, k) {
        var pts = v.map(function (x, i) { return (L + i * step).toFixed(1) + "," + (H - B - (x / max) * (H - B - 15)).toFixed(1); });
        el("polyline", {points: pts.join(" "), fill: "none", stroke: COLOURS[k], "stroke-width": 2}, g);
      });
    });
    mark("workload");
  })();

  // 3. Cohort flow: referral -> first step -> state at the end, widths by cases.
  (function () {
    var host = document.getElementById("flow");
    AUTH.forEach(function (a) {
      var f = DATA.flow[a] || {}, steps = Object.create(null), finals = Object.create(null), total = 0;
      Object.keys(f).forEach(function (k) {
        var p = k.split("|"); steps[p[0]] = (steps[p[0]] || 0) + f[k]; finals[p[1]] = (finals[p[1]] || 0) + f[k]; total += f[k];
      });
      var box = document.createElement("div"); box.className = "small"; host.appendChild(box);
      var h3 = document.createElement("h3"); h3.textContent = a + " (" + total + " cases)"; box.appendChild(h3);
      var W = 560, H = 300, g = svg(box, W, H), gap = 6;
      function column(keys, counts, x) {
        var pos = Object.create(null), y = 0, usable = H - gap * (keys.length + 1);
        keys.forEach(function (k) {
          var h = total ? counts[k] / total * usable : 0;
          pos[k] = {y: y + gap, h: h, used: 0};
          el("rect", {x: x, y: (y + gap).toFixed(1), width: 14, height: Math.max(h, 1).toFixed(1), fill: "#1d3557"}, g);
          el("text", {x: x + (x > W / 2 ? -4 : 18), y: (y + gap + h / 2 + 4).toFixed(1), "font-size": 10,
                      "text-anchor": x > W / 2 ? "end" : "start"}, g, k + " " + counts[k]);
          y += h + gap;
        });
        return pos;
      }
      var stepKeys = Object.keys(steps).sort(), finalKeys = Object.keys(finals).sort();
      var left = column(["referral"], {referral: total}, 10), mid = column(stepKeys, steps, 250),
          right = column(finalKeys, finals, W - 24);
      var usable = function (n) { return n; };
      stepKeys.forEach(function (s, i) {
        var h = mid[s].h, y0 = left.referral.y + left.referral.used + h / 2, y1 = mid[s].y + h / 2;
        left.referral.used += h;
        el("path", {d: "M24," + y0.toFixed(1) + " C140," + y0.toFixed(1) + " 140," + y1.toFixed(1) + " 250," + y1.toFixed(1),
                    stroke: COLOURS[i % COLOURS.length], "stroke-opacity": 0.45, "stroke-width": Math.max(h, 1).toFixed(1), fill: "none"}, g);
      });
      Object.keys(f).sort().forEach(function (k) {
        var p = k.split("|"), h = total ? f[k] / total * (H - gap * (finalKeys.length + 1)) : 0;
        var hs = total ? f[k] / total * (H - gap * (stepKeys.length + 1)) : 0;
        var y0 = mid[p[0]].y + mid[p[0]].used + hs / 2, y1 = right[p[1]].y + right[p[1]].used + h / 2;
        mid[p[0]].used += hs; right[p[1]].used += h;
        el("path", {d: "M264," + y0.toFixed(1) + " C400," + y0.toFixed(1) + " 400," + y1.toFixed(1) + " " + (W - 24) + "," + y1.toFixed(1),
                    stroke: COLOURS[stepKeys.indexOf(p[0]) % COLOURS.length], "stroke-opacity": 0.45,
                    "stroke-width": Math.max(Math.min(h, hs), 0.5).toFixed(1), fill: "none"}, g)
          .appendChild(el("title", {}, null, p[0] + " -> " + p[1] + ": " + f[k]));
      });
    });
    mark("flow");
  })();

  // 4. One case's timeline (with --case): state bands, events, deadlines.
  (function () {
    var c = DATA.case;
    if (!c) return;
    var host = document.getElementById("timeline");
    var dates = [];
    c.events.forEach(function (e) { dates.push(e.date); });
    c.deadlines.forEach(function (d) { dates.push(d.opened, d.due); if (d.met) dates.push(d.met); });
    dates.sort();
    var t0 = Date.parse(dates[0]), t1 = Date.parse(dates[dates.length - 1]) + 86400000;
    var W = 900, L = 130, rows = c.deadlines.length, H = 90 + rows * 14;
    var g = svg(host, W, H);
    function x(d) { return L + (Date.parse(d) - t0) / (t1 - t0) * (W - L - 10); }
    var h3 = document.createElement("h3");
    h3.textContent = c.id + " under " + c.authority + ", now " + c.state; host.insertBefore(h3, g);
    var acc = c.events.filter(function (e) { return e.accepted && e.from !== e.to; });
    acc.forEach(function (e, i) {
      var end = i + 1 < acc.length ? acc[i + 1].date : dates[dates.length - 1];
      el("rect", {x: x(e.date).toFixed(1), y: 10, width: Math.max(x(end) - x(e.date), 1).toFixed(1), height: 22,
                  fill: COLOURS[i % COLOURS.length], "fill-opacity": 0.7}, g).appendChild(el("title", {}, null, e.to + " from " + e.date));
      el("text", {x: (x(e.date) + 2).toFixed(1), y: 25, "font-size": 9}, g, e.to);
    });
    el("text", {x: 0, y: 25, "font-size": 11}, g, "state");
    el("text", {x: 0, y: 55, "font-size": 11}, g, "events");
    c.events.forEach(function (e) {
      var cx = x(e.date);
      el("circle", {cx: cx.toFixed(1), cy: 50, r: 4, fill: e.accepted ? "#264653" : "#e76f51"}, g)
        .appendChild(el("title", {}, null, e.date + " " + e.event + (e.accepted ? "" : " REFUSED: " + e.reasons.join(", "))));
    });
    c.deadlines.forEach(function (d, i) {
      var y = 80 + i * 14, end = d.met || d.ended || d.due;
      el("text", {x: 0, y: y + 4, "font-size": 9}, g, d.name);
      el("line", {x1: x(d.opened).toFixed(1), y1: y, x2: x(d.due).toFixed(1), y2: y, stroke: "#8d99ae", "stroke-width": 4}, g);
      if (d.met) el("circle", {cx: x(d.met).toFixed(1), cy: y, r: 3.5, fill: d.met <= d.due ? "#2a9d8f" : "#e9c46a"}, g)
        .appendChild(el("title", {}, null, d.name + " due " + d.due + ", met " + d.met + " (" + d.rule + ")"));
    });
    mark("timeline");
  })();

  // 5. The summary tables.  Every cell is text (textContent), never markup.
  (function () {
    var host = document.getElementById("tables");
    function cell(row, tag, value) {
      var c = document.createElement(tag); c.textContent = String(value); row.appendChild(c);
    }
    function table(title, rows, head) {
      var h3 = document.createElement("h3"); h3.textContent = title; host.appendChild(h3);
      var t = document.createElement("table"), tr = document.createElement("tr");
      head.forEach(function (h) { cell(tr, "th", h); }); t.appendChild(tr);
      rows.forEach(function (r) {
        var row = document.createElement("tr"); r.forEach(function (c) { cell(row, "td", c); }); t.appendChild(row);
      });
      host.appendChild(t);
    }
    var head = [""].concat(AUTH);
    var names = Object.create(null);
    AUTH.forEach(function (a) { Object.keys(S.authorities[a].deadline_compliance).forEach(function (n) { names[n] = 1; }); });
    table("Deadlines: met / late / overdue / missed", Object.keys(names).sort().map(function (n) {
      return [n].concat(AUTH.map(function (a) { var c = S.authorities[a].deadline_compliance[n]; return c ? c.met + " / " + c.late + " / " + c.overdue + " / " + c.missed : "-"; }));
    }), head);
    var states = Object.create(null);
    AUTH.forEach(function (a) { Object.keys(S.authorities[a].days_in_state).forEach(function (n) { states[n] = 1; }); });
    table("Days in state: median / p90", Object.keys(states).sort().map(function (n) {
      return [n].concat(AUTH.map(function (a) { var q = S.authorities[a].days_in_state[n]; return q ? q.median + " / " + q.p90 : "-"; }));
    }), head);
    table("Closures by census reason", ["RC1","RC2","RC3","RC4","RC5","RC6","RC7","RC8","RC9"].map(function (rc) {
      return [rc].concat(AUTH.map(function (a) { return S.authorities[a].closures[rc] || 0; }));
    }), head);
    table("Plans open at the end", [["plans"].concat(AUTH.map(function (a) { return S.authorities[a].plans_open_at_end; }))], head);
    var rules = Object.create(null);
    AUTH.forEach(function (a) { Object.keys(S.authorities[a].refusals).forEach(function (n) { rules[n] = 1; }); });
    table("Refusals by rule", Object.keys(rules).sort().map(function (n) {
      return [n].concat(AUTH.map(function (a) { return S.authorities[a].refusals[n] || 0; }));
    }), head);
  })();

  document.body.setAttribute("data-charts", String(drawn));
})();
