/**
 * The stylesheet and the script, served by the router itself: no build step,
 * and the Content-Security-Policy can forbid inline styles and scripts.
 * The pages work without the script; it only adds select-all and
 * submit-on-change.
 */
import { createHash } from "node:crypto";
import type { Request, Response } from "express";

const CSS = `
:root {
  --bg: #f4f5f7; --surface: #fff; --border: #e2e5ea; --border-strong: #cfd4db;
  --text: #1d2329; --muted: #68717d; --link: #1f5fbf; --focus: #3b82f6;
  --ready: #6c757d; --running: #007bff; --successful: #28a745; --failed: #dc3545;
  --radius: 8px;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
h1 { font-size: 22px; font-weight: 600; margin: 0; letter-spacing: -0.01em; }
h2 { font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 12px; }
.mono { font-family: var(--mono); font-size: 12.5px; }
.muted { color: var(--muted); }

.topbar { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 52px; background: #16202c; color: #e8edf3; }
.brand { color: #fff; font-weight: 650; font-size: 15px; letter-spacing: -0.01em; }
.brand:hover { text-decoration: none; }
.brand-sub { margin-left: 8px; padding: 2px 7px; border-radius: 4px; background: #2c3a4b; color: #b9c6d6; font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .06em; vertical-align: 1px; }
.topnav a { color: #cfd9e4; font-weight: 500; }
.tz { margin-left: auto; color: #93a2b4; font-size: 12px; }
.devmode { background: #fff4d6; color: #7a5300; border-bottom: 1px solid #f0d48a; padding: 8px 24px; font-weight: 500; }
main { padding: 24px; max-width: 1600px; margin: 0 auto; }

.flash { border-radius: var(--radius); padding: 11px 14px 11px 40px; margin-bottom: 18px; border: 1px solid; position: relative; font-weight: 500; }
.flash::before { position: absolute; left: 14px; top: 10px; font-weight: 700; }
.flash-success { background: #e9f7ee; border-color: #b4e0c2; color: #1c5a30; }
.flash-success::before { content: "✓"; }
.flash-warning { background: #fff7e6; border-color: #f3d699; color: #6f4b00; }
.flash-warning::before { content: "!"; }
.flash-error { background: #fdecee; border-color: #f2b8bf; color: #7d1a26; }
.flash-error::before { content: "×"; }

.page-head { display: flex; align-items: baseline; gap: 12px; margin-bottom: 16px; }
.result-count { color: var(--muted); }

.stats { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px; margin-bottom: 8px; }
.stat { display: flex; flex-direction: column; gap: 2px; padding: 12px 16px; background: var(--surface); border: 1px solid var(--border);
  border-left: 4px solid var(--border-strong); border-radius: var(--radius); color: var(--text); transition: box-shadow .12s, border-color .12s; }
.stat:hover { text-decoration: none; box-shadow: 0 1px 4px rgba(16, 24, 40, .08); }
.stat.active { box-shadow: 0 0 0 2px var(--focus) inset; }
.stat-label { font-size: 11.5px; font-weight: 600; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.stat-value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.stat-all { border-left-color: #36475a; }
.stat-ready { border-left-color: var(--ready); }
.stat-running { border-left-color: var(--running); }
.stat-successful { border-left-color: var(--successful); }
.stat-failed { border-left-color: var(--failed); }
.stat-failed .stat-value { color: var(--failed); }
.stats-scope { margin: 0 0 4px; color: var(--muted); font-size: 12.5px; }

.filters { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 12px; margin: 16px 0; padding: 14px 16px;
  background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); }
.field { display: flex; flex-direction: column; gap: 4px; }
.field > span { font-size: 12px; font-weight: 600; color: var(--muted); }
.field-search { flex: 1 1 260px; }
input[type=search], select { height: 34px; padding: 0 10px; border: 1px solid var(--border-strong); border-radius: 6px; background: #fff; color: var(--text); font: inherit; min-width: 150px; }
input[type=search] { width: 100%; }
.filter-buttons { display: flex; gap: 8px; }

.button { display: inline-flex; align-items: center; justify-content: center; height: 34px; padding: 0 14px; border-radius: 6px;
  border: 1px solid var(--border-strong); background: #fff; color: var(--text); font: inherit; font-weight: 500; cursor: pointer; white-space: nowrap; }
.button:hover { background: #f3f5f8; text-decoration: none; }
.button:disabled, .button.disabled { opacity: .5; cursor: default; background: #fff; }
.button-primary { background: #1f5fbf; border-color: #1f5fbf; color: #fff; }
.button-primary:hover { background: #1a51a3; }
.button-ghost { border-color: transparent; background: transparent; color: var(--link); }
form.busy .button { opacity: .6; pointer-events: none; }

.results { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); overflow: hidden; }
.actionbar { display: flex; align-items: center; gap: 8px; padding: 10px 12px; border-bottom: 1px solid var(--border); background: #fafbfc; }
.selection-count { color: var(--muted); margin-left: 4px; }
.table-wrap { overflow-x: auto; }
table.tasks { width: 100%; border-collapse: collapse; }
.tasks th { text-align: left; font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  padding: 9px 10px; border-bottom: 1px solid var(--border); white-space: nowrap; background: #fafbfc; }
.tasks td { padding: 7px 10px; font-size: 13px; border-bottom: 1px solid #eef0f3; white-space: nowrap; vertical-align: middle; }
.tasks tbody tr:last-child td { border-bottom: 0; }
.tasks tbody tr:hover { background: #f7f9fc; }
.tasks tbody tr.selected { background: #eef4ff; }
.tasks .check { width: 36px; padding-right: 0; }
.tasks .id a { font-family: var(--mono); font-size: 12px; }
.tasks .name a { color: var(--text); font-weight: 500; }
.tasks .name a:hover { color: var(--link); }
.tasks .num { text-align: right; font-variant-numeric: tabular-nums; }
.tasks .time { font-variant-numeric: tabular-nums; color: #3b4450; }
.tasks .empty { text-align: center; color: var(--muted); padding: 40px 12px; }
input[type=checkbox] { width: 15px; height: 15px; margin: 0; vertical-align: middle; accent-color: #1f5fbf; }

.badge { display: inline-block; padding: 2px 8px; border-radius: 999px; color: #fff; font-size: 11px; font-weight: 700; letter-spacing: .04em; line-height: 1.5; }
.badge-ready { background: var(--ready); }
.badge-running { background: var(--running); }
.badge-successful { background: var(--successful); }
.badge-failed { background: var(--failed); }

.pager { display: flex; justify-content: flex-end; gap: 8px; margin-top: 16px; }

.breadcrumbs { display: flex; gap: 8px; align-items: center; color: var(--muted); margin-bottom: 12px; }
.detail-head { display: flex; justify-content: space-between; align-items: flex-start; gap: 16px; margin-bottom: 20px; }
.task-name { font-family: var(--mono); font-size: 20px; word-break: break-all; }
.detail-sub { display: flex; align-items: center; gap: 10px; margin: 8px 0 0; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
.card { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); padding: 16px 18px; margin-bottom: 16px; }
.card .count { display: inline-block; min-width: 20px; padding: 0 6px; margin-left: 4px; border-radius: 999px; background: #eceff3; color: var(--text); text-align: center; letter-spacing: 0; }
.fields { margin: 0; }
.field-row { display: grid; grid-template-columns: 140px 1fr; gap: 12px; padding: 6px 0; border-bottom: 1px solid #f0f2f5; }
.field-row:last-child { border-bottom: 0; }
.field-row dt { color: var(--muted); }
.field-row dd { margin: 0; word-break: break-all; }
pre { margin: 0; padding: 12px 14px; background: #f6f8fa; border: 1px solid #e6e9ee; border-radius: 6px; overflow: auto; max-height: 480px;
  font-family: var(--mono); font-size: 12.5px; line-height: 1.5; white-space: pre-wrap; word-break: break-word; }
.error { border: 1px solid #f1c9ce; border-radius: 6px; margin-bottom: 12px; overflow: hidden; }
.error:last-child { margin-bottom: 0; }
.error header { display: flex; gap: 10px; align-items: baseline; padding: 9px 12px; background: #fdf1f2; border-bottom: 1px solid #f1c9ce; }
.error-index { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.error-class { font-family: var(--mono); font-weight: 700; color: #a4202f; }
.error-message { word-break: break-word; }
.error pre { border: 0; border-radius: 0; background: #fff; }
.workers { margin: 0; padding: 0; list-style: none; }
.workers li { display: flex; gap: 16px; padding: 5px 0; border-bottom: 1px solid #f0f2f5; }
.workers li:last-child { border-bottom: 0; }
.workers li .muted { width: 80px; }
.inline-form { margin: 0; }
.empty-card { text-align: center; padding: 40px; }
.empty-card h1 { margin-bottom: 8px; }

@media (max-width: 900px) {
  main { padding: 16px; }
  .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .tz { display: none; }
}
`;

const JS = `"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var selectAll = document.getElementById("select-all");
  var counter = document.getElementById("selection-count");
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input[type=checkbox][name="ids"]'));
  var needSelection = Array.prototype.slice.call(document.querySelectorAll("[data-needs-selection]"));
  function update() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    boxes.forEach(function (b) { var row = b.closest("tr"); if (row) row.classList.toggle("selected", b.checked); });
    if (counter) counter.textContent = n ? n + " selected" : "";
    needSelection.forEach(function (button) { button.disabled = n === 0; });
    if (selectAll) { selectAll.checked = n > 0 && n === boxes.length; selectAll.indeterminate = n > 0 && n < boxes.length; }
  }
  if (selectAll) selectAll.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = selectAll.checked; });
    update();
  });
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
  var postForms = Array.prototype.slice.call(document.querySelectorAll('form[method="post"]'));
  // Back/forward cache restores the page as it was left: busy.
  window.addEventListener("pageshow", function () { postForms.forEach(function (form) { form.classList.remove("busy"); }); });
  postForms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      // A second click while the first action runs would run the tasks twice.
      if (form.classList.contains("busy")) { event.preventDefault(); return; }
      form.classList.add("busy");
    });
  });
  if (boxes.length) update();
});
`;

interface Asset {
  body: string;
  type: string;
  version: string;
}

const ASSETS: Record<string, Asset> = Object.fromEntries(
  (
    [
      ["admin.css", CSS, "text/css; charset=utf-8"],
      ["admin.js", JS, "text/javascript; charset=utf-8"],
    ] as const
  ).map(([name, body, type]) => [name, { body, type, version: createHash("sha256").update(body).digest("hex").slice(0, 12) }]),
);

/** The asset's URL below the mount path; the content hash lets browsers cache it until the package changes it. */
export function assetPath(name: "admin.css" | "admin.js"): string {
  return `/assets/${name}?v=${ASSETS[name].version}`;
}

export function serveAsset(req: Request, res: Response): void {
  const asset = Object.hasOwn(ASSETS, req.params.file as string) ? ASSETS[req.params.file as string] : undefined;
  if (!asset) {
    res.status(404).type("text/plain").send("Not found.");
    return;
  }
  res.set("Cache-Control", "private, max-age=86400");
  res.type(asset.type).send(asset.body);
}
