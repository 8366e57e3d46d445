// Answers, passages and snippets are untrusted text (owners' documents, model output): they
// reach the page as text nodes only, never parsed as HTML. Citation markers [n] become
// buttons, and http(s) URLs become links only when their host is allowed.
// Bidirectional text: bidi controls are dropped (the server drops them too), so a document
// cannot reverse the text after them or disguise a file name; what this module inserts into
// running text (links, source names, headings) is isolated (dir, <bdi>), and the containers
// take their direction from their text (dir="auto"), so Arabic reads right to left.

const MARKER_OR_URL = /\[(\d{1,4})\]|\bhttps?:\/\/[^\s<>[\]"'`]+/gi;
const TRAILING = /[.,;:!?'")\]}>*_]+$/;
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/** `text` without bidi embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069). */
export function stripBidi(text) {
  return String(text ?? "").replace(BIDI_CONTROLS, "");
}

/** Whether `url` is http(s) on one of `hosts` ("example.com" allows its subdomains). */
export function hostAllowed(url, hosts) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return false;
  const host = parsed.hostname.toLowerCase().replace(/\.$/, "");
  return hosts.some((h) => {
    const allowed = String(h).trim().toLowerCase().replace(/^\./, "");
    return allowed !== "" && (host === allowed || host.endsWith(`.${allowed}`));
  });
}

/**
 * Fill `parent` with `text`: plain text, [n] markers of `citations` as buttons that call
 * `onCite(citation)`, URLs on `linkHosts` as links. Returns `parent`.
 */
export function renderText(parent, text, { citations = [], linkHosts = [], onCite = null } = {}) {
  const byNumber = new Map(citations.map((c) => [c.number, c]));
  const nodes = [];
  const plain = stripBidi(text);
  let last = 0;
  for (const match of plain.matchAll(MARKER_OR_URL)) {
    let token = match[0];
    if (match[1] === undefined) token = token.replace(TRAILING, "");
    nodes.push(document.createTextNode(plain.slice(last, match.index)));
    last = match.index + token.length;
    const citation = match[1] === undefined ? null : byNumber.get(Number(match[1]));
    if (citation && onCite) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cite";
      button.textContent = String(citation.number);
      button.title = `${sourceName(citation.source)}${where(citation.metadata, ", ")}`;
      button.setAttribute("aria-label", `Source ${citation.number}: ${button.title}`);
      button.addEventListener("click", () => onCite(citation));
      nodes.push(button);
    } else if (match[1] === undefined && hostAllowed(token, linkHosts)) {
      const link = document.createElement("a");
      link.href = new URL(token).href;
      link.textContent = token;
      link.dir = "ltr"; // isolated: a URL reads left to right, in Arabic text too
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
      nodes.push(link);
    } else {
      nodes.push(document.createTextNode(token));
    }
  }
  nodes.push(document.createTextNode(plain.slice(last)));
  parent.replaceChildren(...nodes);
  return parent;
}

/** What a person calls a source: a URL as it is, "FAQ", else the file name of its path. */
export function sourceName(source) {
  const text = stripBidi(source);
  if (/^https?:\/\//i.test(text)) return text;
  if (text.startsWith("faq:")) return "FAQ";
  return text.replace(/\/+$/, "").split("/").pop();
}

function headings(metadata) {
  const found = metadata && Array.isArray(metadata.headings) ? metadata.headings : [];
  return found.map(stripBidi);
}

/** "page 3 · Rentals > Late returns" from a citation's metadata ("" when it has neither). */
export function where(metadata, lead = "") {
  const parts = [];
  if (metadata && Number.isInteger(metadata.page)) parts.push(`page ${metadata.page}`);
  if (headings(metadata).length) parts.push(headings(metadata).join(" > "));
  return parts.length ? lead + parts.join(" · ") : "";
}

/** `where` as nodes: each heading isolated in a <bdi>, so an Arabic one keeps its place. */
export function whereNodes(metadata) {
  const nodes = [];
  if (metadata && Number.isInteger(metadata.page)) nodes.push(`page ${metadata.page}`);
  headings(metadata).forEach((h, i) => {
    if (i) nodes.push(" > ");
    else if (nodes.length) nodes.push(" · ");
    nodes.push(bdi(h));
  });
  return nodes;
}

/**
 * Fill `parent` with a citation's label, "[n] name, page 3 · Rentals" (`place: false`: "[n]
 * name"): the source's name and headings in <bdi>, so that a right-to-left or odd name cannot
 * reorder the text around it. Returns `parent`.
 */
export function citationLabel(parent, citation, { place = true } = {}) {
  const nodes = [`[${citation.number}] `, bdi(sourceName(citation.source))];
  const at = place ? whereNodes(citation.metadata) : [];
  if (at.length) nodes.push(", ", ...at);
  parent.replaceChildren(...nodes);
  return parent;
}

/** Text isolated from what surrounds it, its direction taken from itself. */
export function bdi(text) {
  return el("bdi", "", text);
}

/** An element with a class and text (never HTML, never bidi controls). */
export function el(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = stripBidi(text);
  return node;
}

/** `el`, its direction taken from its text (dir="auto"): for text of any language. */
export function textEl(tag, className = "", text = "") {
  const node = el(tag, className, text);
  node.dir = "auto";
  return node;
}
