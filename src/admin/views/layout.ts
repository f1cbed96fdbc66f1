import type { TaskStatus } from "../../task/result.ts";
import { assetPath } from "../assets.ts";
import type { Flash } from "../flash.ts";
import { html, type SafeHtml } from "../html.ts";

export interface PageContext {
  /** The router's mount path ("" at the root), prefixed to every link. */
  base: string;
  title: string;
  timeZone: string;
  devMode: boolean;
  flash: Flash | null;
  csrfToken: string;
}

export function statusBadge(status: TaskStatus): SafeHtml {
  return html`<span class="badge badge-${status.toLowerCase()}">${status}</span>`;
}

function flashBanner(flash: Flash | null): SafeHtml {
  if (!flash) return html``;
  return html`<div class="flash flash-${flash.level}" role="status">${flash.text}</div>`;
}

export function layout(ctx: PageContext, pageTitle: string, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${pageTitle} · ${ctx.title} admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ctx.base}${assetPath("admin.css")}">
<script src="${ctx.base}${assetPath("admin.js")}" defer></script>
</head>
<body>
<header class="topbar">
  <a class="brand" href="${ctx.base}/">${ctx.title}<span class="brand-sub">admin</span></a>
  <nav class="topnav"><a href="${ctx.base}/">Tasks</a></nav>
  <span class="tz">Times in ${ctx.timeZone}</span>
</header>
${ctx.devMode ? html`<div class="devmode">insecureDevelopmentMode: this admin has no authorization and serves loopback clients only.</div>` : ""}
<main>
${flashBanner(ctx.flash)}
${body}
</main>
</body>
</html>
`;
}
