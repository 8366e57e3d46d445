// Answers, passages and snippets are untrusted text (owners' documents, model output): they
// reach the page as text nodes only, never parsed as HTML. Citation markers [n] become
// buttons, and http(s) URLs become links only when their host is allowed.

const MARKER_OR_URL = /\[(\d{1,4})\]|\bhttps?:\/\/[^\s<>[\]"'`]+/gi;
const TRAILING = /[.,;:!?'")\]}>*_]+$/;

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
  let last = 0;
  for (const match of String(text).matchAll(MARKER_OR_URL)) {
    let token = match[0];
    if (match[1] === undefined) token = token.replace(TRAILING, "");
    nodes.push(document.createTextNode(text.slice(last, match.index)));
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
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
      nodes.push(link);
    } else {
      nodes.push(document.createTextNode(token));
    }
  }
  nodes.push(document.createTextNode(String(text).slice(last)));
  parent.replaceChildren(...nodes);
  return parent;
}

/** What a person calls a source: a URL as it is, "FAQ", else the file name of its path. */
export function sourceName(source) {
  const text = String(source ?? "");
  if (/^https?:\/\//i.test(text)) return text;
  if (text.startsWith("faq:")) return "FAQ";
  return text.replace(/\/+$/, "").split("/").pop();
}

/** "page 3 · Rentals > Late returns" from a citation's metadata ("" when it has neither). */
export function where(metadata, lead = "") {
  const parts = [];
  if (metadata && Number.isInteger(metadata.page)) parts.push(`page ${metadata.page}`);
  if (metadata && Array.isArray(metadata.headings) && metadata.headings.length) {
    parts.push(metadata.headings.map(String).join(" > "));
  }
  return parts.length ? lead + parts.join(" · ") : "";
}

/** An element with a class and text (never HTML). */
export function el(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}
