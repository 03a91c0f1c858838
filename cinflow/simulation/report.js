// Builds the report from the embedded JSON: notes, sections, captions and
// tables as text, and each chart from its Vega-Lite spec with Vega (inlined
// by the script before this one: window.vegaEmbed), drawn as SVG.  Nothing
// is fetched.  Data from the database only ever reaches the page as text
// (textContent, createTextNode, setAttribute), never through markup strings.
const DATA = JSON.parse(document.getElementById("data").textContent);
const PAGE = DATA.page;
const figures = [];

function make(tag, parent, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function table(parent, t) {
  const wrap = make("div", parent, undefined, "table-wrap");
  const tab = make("table", wrap);
  if (t.title) make("caption", tab, t.title);
  const head = make("thead", tab), tr = make("tr", head);
  t.head.forEach(function (h) { make("th", tr, h); });
  const body = make("tbody", tab);
  t.rows.forEach(function (r) {
    const row = make("tr", body);
    r.forEach(function (c) { make("td", row, c); });
  });
  return tab;
}

// The notes (window, replicates) near the top.
const notesHost = document.getElementById("notes");
PAGE.notes.forEach(function (n) { make("p", notesHost, n, "note"); });

// A list of the sections, then each section.
const nav = document.getElementById("contents"), list = make("ul", nav);
const main = document.getElementById("main");
PAGE.sections.forEach(function (s) {
  const a = make("a", make("li", list), s.title);
  a.setAttribute("href", "#" + s.id);
  const sec = make("section", main);
  sec.id = s.id;
  sec.setAttribute("aria-labelledby", s.id + "-title");
  make("h2", sec, s.title).id = s.id + "-title";
  if (s.intro) make("p", sec, s.intro, "intro");
  (s.notes || []).forEach(function (n) { make("p", sec, n, "note"); });
  (s.figures || []).forEach(function (f) {
    const fig = make("figure", sec);
    const chart = make("div", fig, undefined, "chart");
    chart.id = f.id;
    chart.setAttribute("aria-label", f.spec.description);
    chart.setAttribute("aria-describedby", f.id + "-caption");
    const cap = make("figcaption", fig, f.caption);
    cap.id = f.id + "-caption";
    const details = make("details", fig, undefined, "numbers");
    make("summary", details, "The numbers in this chart, as a table");
    table(details, f.table);
    (f.tables || []).forEach(function (t) { table(details, t); });
    figures.push([chart, f.spec]);
  });
  (s.tables || []).forEach(function (t) { table(sec, t); });
});
document.body.setAttribute("data-figures", String(figures.length));

// The charts: each drawn on its own, so one that fails leaves the rest (and
// its table) in place, and says so.
let drawn = 0;
const jobs = figures.map(function (job) {
  const chart = job[0], spec = job[1];
  if (typeof window.vegaEmbed !== "function") {
    chart.setAttribute("data-drawn", "failed");
    make("p", chart, "This chart could not be drawn (its script did not load); its numbers are in the table below.",
         "failed");
    return Promise.resolve();
  }
  return window.vegaEmbed(chart, spec, {renderer: "svg", actions: false, mode: "vega-lite"})
    .then(function () {
      if (!chart.querySelector("svg .role-mark")) throw new Error("nothing was drawn");
      chart.setAttribute("data-drawn", "yes");
      drawn += 1;
    })
    .catch(function (err) {
      chart.setAttribute("data-drawn", "failed");
      make("p", chart, "This chart could not be drawn (" + String(err && err.message ? err.message : err) +
           "); its numbers are in the table below.", "failed");
    });
});
Promise.all(jobs).then(function () { document.body.setAttribute("data-charts", String(drawn)); });

// Printing shows every table; the page is as it was after.
let closed = [];
window.addEventListener("beforeprint", function () {
  closed = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) { return !d.open; });
  closed.forEach(function (d) { d.open = true; });
});
window.addEventListener("afterprint", function () { closed.forEach(function (d) { d.open = false; }); closed = []; });
