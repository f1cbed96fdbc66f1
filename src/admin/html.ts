/**
 * HTML output. Every page is built with the `html` tag, which escapes each
 * interpolated value unless it is already `SafeHtml` (the output of another
 * `html` call). Escaping is therefore the default, and forgetting it is not
 * possible without calling `trustedHtml` on purpose.
 */

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Safe in element content and in quoted attribute values (every template
 * quotes its attributes with double quotes). Not for unquoted attributes,
 * inline scripts, styles or URLs' schemes, none of which the templates use
 * with database values.
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

export class SafeHtml {
  readonly #text: string;
  constructor(text: string) {
    this.#text = text;
  }
  toString(): string {
    return this.#text;
  }
}

/** Marks a constant written in this package as HTML. Never pass it anything read from a request or the database. */
export function trustedHtml(text: string): SafeHtml {
  return new SafeHtml(text);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.toString();
  if (value === null || value === undefined || value === false) return "";
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(value);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}
