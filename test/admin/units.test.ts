/** The pieces every page relies on: escaping, what a search means, where a form may send the browser. */
import { describe, expect, it } from "vitest";
import { escapeHtml, html, trustedHtml } from "../../src/admin/html.ts";
import { decodeCursor, encodeCursor, returnLocation } from "../../src/admin/params.ts";
import { planSearch, type SummaryGroup } from "../../src/admin/queries.ts";
import { SummaryCache } from "../../src/admin/summary-cache.ts";
import type { SqlStorage } from "../../src/storage/sql-storage.ts";
import { shortTaskName } from "../../src/admin/views/format.ts";

describe("escaping", () => {
  it("escapes the five characters that can end text or an attribute", () => {
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
    expect(escapeHtml(42)).toBe("42");
  });

  it("escapes every interpolated value unless it is already HTML", () => {
    const inner = html`<b>${"<i>"}</b>`;
    expect(html`<p>${inner}${"<s>"}${[1, "<", inner]}${null}${undefined}${false}${0}</p>`.toString()).toBe(
      "<p><b>&lt;i&gt;</b>&lt;s&gt;1&lt;<b>&lt;i&gt;</b>0</p>",
    );
    expect(html`${trustedHtml("<hr>")}`.toString()).toBe("<hr>");
    // A look-alike object is not trusted.
    expect(html`${{ toString: () => "<script>" }}`.toString()).toBe("&lt;script&gt;");
  });
});

describe("search", () => {
  it("reads a whole id, with or without hyphens and in any case, as that id", () => {
    const id = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    expect(planSearch(id)).toEqual({ kind: "id", id });
    expect(planSearch(` ${id.toUpperCase()} `)).toEqual({ kind: "id", id });
    expect(planSearch(id.replace(/-/g, ""))).toEqual({ kind: "id", id });
  });

  it("reads part of an id as its start (a key range) or its end, and a short hex word also as a name", () => {
    expect(planSearch("3fa85f64")).toEqual({
      kind: "idPart",
      low: "3fa85f64-0000-0000-0000-000000000000",
      high: "3fa85f64-ffff-ffff-ffff-ffffffffffff",
      end: "3fa85f64",
      name: null,
    });
    expect(planSearch("3fa85f64-57")).toMatchObject({ low: "3fa85f64-5700-0000-0000-000000000000", end: "3fa85f64-57", name: null });
    expect(planSearch("add")).toMatchObject({ kind: "idPart", low: "add00000-0000-0000-0000-000000000000", end: "add", name: "add" });
  });

  it("reads anything else as part of a name, case-insensitively", () => {
    expect(planSearch("Emails.Send")).toEqual({ kind: "name", name: "emails.send" });
    expect(planSearch("100%")).toEqual({ kind: "name", name: "100%" });
  });
});

describe("page positions and redirects", () => {
  it("round-trips a cursor and rejects malformed ones", () => {
    const cursor = { id: "019abc12-5717-7562-b3fc-2c963f66afa6" };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(decodeCursor("019ABC12-5717-7562-B3FC-2C963F66AFA6")).toEqual(cursor);
    for (const bad of ["", "x", "1_2", "1700000000123_019abc12-5717-7562-b3fc-2c963f66afa6", "019abc12-5717-7562-b3fc-2c963f66afaZ", ["a"]]) {
      expect(decodeCursor(bad)).toBeNull();
    }
  });

  it("keeps only known list parameters and never leaves the mount path", () => {
    expect(returnLocation("/admin", "status=failed&queue=a%20b&evil=1")).toBe("/admin/?status=FAILED&queue=a+b");
    expect(returnLocation("/admin", "//evil.example")).toBe("/admin/");
    expect(returnLocation("/admin", undefined)).toBe("/admin/");
    expect(returnLocation("", "task:3FA85F64-5717-4562-B3FC-2C963F66AFA6")).toBe("/tasks/3fa85f64-5717-4562-b3fc-2c963f66afa6");
  });
});

describe("task names", () => {
  it("shortens names over 40 characters to their last 37, as django-database-task does", () => {
    expect(shortTaskName("a".repeat(40))).toBe("a".repeat(40));
    const long = "billing.invoices.generate_monthly_invoice_pdf";
    expect(shortTaskName(long)).toBe(`...${long.slice(-37)}`);
    expect(shortTaskName(long)).toHaveLength(40);
  });
});

describe("status counts cache", () => {
  const storage = {} as SqlStorage;
  const groups = (n: number): SummaryGroup[] => [{ status: "READY", queue: "default", backend: "default", count: n }];
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("counts again on every page while counting is cheap", async () => {
    let calls = 0;
    const cache = new SummaryCache(async () => groups(++calls));
    await cache.get(storage);
    expect((await cache.get(storage)).groups[0].count).toBe(2);
  });

  it("reuses an expensive count, shares it between concurrent pages, and forgets it after an action", async () => {
    let calls = 0;
    const cache = new SummaryCache(async () => {
      calls++;
      await sleep(60);
      return groups(calls);
    });
    const [a, b] = await Promise.all([cache.get(storage), cache.get(storage)]);
    expect(calls).toBe(1);
    expect(a).toBe(b);
    expect(await cache.get(storage)).toBe(a);
    cache.invalidate(storage);
    expect((await cache.get(storage)).groups[0].count).toBe(2);
  });
});
