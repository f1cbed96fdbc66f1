import express, { Router, type NextFunction, type Request, type Response } from "express";
import { describeError } from "../errors.ts";
import { getRuntime } from "../runtime.ts";
import { ACTIONS, performAction, type ActionName } from "./actions.ts";
import { serveAsset } from "./assets.ts";
import { requireAuthorization } from "./auth.ts";
import { signingKey } from "./crypto.ts";
import { csrfRefusal, issueCsrfToken } from "./csrf.ts";
import { setFlash, takeFlash } from "./flash.ts";
import { securityHeaders } from "./headers.ts";
import { html, type SafeHtml } from "./html.ts";
import { resolveOptions, type AdminOptions, type ResolvedOptions } from "./options.ts";
import { parseListQuery, returnLocation } from "./params.ts";
import { getTask, listTaskPage } from "./queries.ts";
import { SummaryCache } from "./summary-cache.ts";
import { distinctBackends, distinctQueues, matchingTotal, statusCounts } from "./summary.ts";
import { renderDetail, renderNotFound } from "./views/detail.ts";
import { layout, type PageContext } from "./views/layout.ts";
import { renderList } from "./views/list.ts";

/** More than a few pages of rows in one action would hold the request open for too long. */
const MAX_IDS_PER_ACTION = 500;

function sendPage(res: Response, status: number, page: SafeHtml): void {
  res.status(status).type("html").send(page.toString());
}

/**
 * The admin pages as an Express router. Throws ConfigError at creation when
 * no authorization is configured (unless `insecureDevelopmentMode`).
 */
export function adminRouter(options: AdminOptions): Router {
  const resolved = resolveOptions(options);
  const key = signingKey(resolved);
  const devMode = !resolved.authorize && !resolved.basicAuth && !resolved.bearerToken;
  const summaries = new SummaryCache();

  const context = (req: Request, res: Response, { withFlash = true } = {}): PageContext => ({
    base: req.baseUrl,
    title: resolved.title,
    timeZone: resolved.timeZone,
    devMode,
    flash: withFlash ? takeFlash(req, res, key) : null,
    csrfToken: issueCsrfToken(req, res, key),
  });

  const router = Router();
  router.use(securityHeaders);
  router.use(requireAuthorization(resolved));

  router.get("/assets/:file", serveAsset);

  router.get("/", async (req, res) => {
    const state = parseListQuery(req.query as Record<string, unknown>);
    const runtime = await getRuntime();
    const storage = runtime.storage();
    const requestedAt = Date.now();
    const [page, { groups, asOf }] = await Promise.all([
      listTaskPage(storage, { filter: state.filter, limit: resolved.pageSize, older: state.older, newer: state.newer }),
      summaries.get(storage),
    ]);
    const view = {
      state,
      page,
      // Under a second old is as good as fresh (a count shared with a concurrent page load).
      countsAsOf: requestedAt - asOf.getTime() > 1000 ? asOf : null,
      counts: statusCounts(groups, state.filter),
      queues: distinctQueues(groups),
      backends: distinctBackends(groups, Object.keys(runtime.backendConfigs)),
      total: matchingTotal(groups, state.filter),
    };
    sendPage(res, 200, renderList(context(req, res), view));
  });

  router.get("/tasks/:id", async (req, res) => {
    const id = String(req.params.id);
    const task = await getTask((await getRuntime()).storage(), id);
    const ctx = context(req, res);
    if (!task) sendPage(res, 404, renderNotFound(ctx, id));
    else sendPage(res, 200, renderDetail(ctx, task));
  });

  router.post(
    "/actions",
    express.urlencoded({ extended: false, limit: "100kb", parameterLimit: MAX_IDS_PER_ACTION + 10 }),
    async (req, res) => {
      const refusal = csrfRefusal(req, res, key, resolved.trustedOrigins);
      if (refusal) {
        res.status(403).type("text/plain").send(`Forbidden: ${refusal}. Nothing was changed; reload the admin page and try again.`);
        return;
      }
      const body = (req.body ?? {}) as Record<string, unknown>;
      const action = body.action;
      if (typeof action !== "string" || !Object.hasOwn(ACTIONS, action)) {
        res.status(400).type("text/plain").send(`Unknown action; expected one of: ${Object.keys(ACTIONS).join(", ")}.`);
        return;
      }
      const ids = ([] as unknown[]).concat(body.ids ?? []).filter((id): id is string => typeof id === "string");
      if (ids.length > MAX_IDS_PER_ACTION) {
        res.status(400).type("text/plain").send(`At most ${MAX_IDS_PER_ACTION} tasks can be acted on at once.`);
        return;
      }
      const runtime = await getRuntime();
      const flash =
        ids.length === 0
          ? { level: "warning" as const, text: "Items must be selected in order to perform actions on them. No items have been changed." }
          : await performAction(runtime, action as ActionName, ids);
      summaries.invalidate(runtime.storage());
      setFlash(req, res, key, flash);
      res.redirect(303, returnLocation(req.baseUrl, body.return));
    },
  );

  router.use((req, res) => {
    sendPage(res, 404, layout(context(req, res, { withFlash: false }), "Not found", html`<div class="card empty-card"><h1>Not found</h1><p><a class="button" href="${req.baseUrl}/">Back to the task list</a></p></div>`));
  });

  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => handleError(resolved, error, req, res));
  return router;
}

async function handleError(options: ResolvedOptions, error: unknown, req: Request, res: Response): Promise<void> {
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    // Body parser refusals (too large, malformed): the client's fault, said plainly.
    res.status(status).type("text/plain").send("The request could not be read.");
    return;
  }
  try {
    (await getRuntime()).logger.error("Admin page failed", { path: req.originalUrl, error: describeError(error) });
  } catch {
    console.error("[database-task admin] Admin page failed:", describeError(error));
  }
  if (res.headersSent) return;
  const ctx: PageContext = { base: req.baseUrl, title: options.title, timeZone: options.timeZone, devMode: false, flash: null, csrfToken: "" };
  const body = html`<div class="card empty-card"><h1>Something went wrong</h1>
    <p>The page could not be built; the error is in the server log. Is the database reachable?</p>
    <p><a class="button" href="${req.baseUrl}/">Back to the task list</a></p></div>`;
  sendPage(res, 500, layout(ctx, "Error", body));
}
