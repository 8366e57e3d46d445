// The website widget: a chat bubble in a shadow root, talking to the public widget routes
// (/v1/widgets/ID). Answers render as text (render.js); the conversation id stays in the
// visitor's browser (localStorage).
import { ApiError, getJSON, streamAnswer } from "./api.js";
import { citationLabel, el, renderText, stripBidi, textEl } from "./render.js";

const NOT_HERE = "This chat is not available on this site.";

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // blocked (private mode, sandboxed frame): the conversation lasts the page
  }
}

function explain(error) {
  if (!(error instanceof ApiError)) return "The chat could not be reached. Please try again.";
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Please wait ${error.retryAfter} s and try again.` : " Please wait a moment.";
    return `You are sending messages too quickly.${wait}`;
  }
  if (error.status === 403 || error.status === 404) return NOT_HERE;
  return `Sorry, something went wrong (${error.code}).`;
}

export function mount(script) {
  const widgetId = script.getAttribute("data-chatbot");
  const server = new URL(script.src).origin;
  const route = `${server}/v1/widgets/${encodeURIComponent(widgetId)}`;
  const key = `intaj:widget:${widgetId}:conversation`;
  const store = storage();

  const host = document.createElement("div");
  host.className = "intaj-widget";
  host.dataset.widget = widgetId;
  const root = host.attachShadow({ mode: "open" });
  const style = Object.assign(document.createElement("link"), {
    rel: "stylesheet",
    href: new URL("widget.css", script.src).href,
  });
  const bubble = el("button", "bubble");
  bubble.type = "button";
  bubble.setAttribute("aria-label", "Open chat");
  bubble.setAttribute("aria-expanded", "false");
  bubble.append(chatIcon());
  const panel = el("section", "panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  const header = el("header");
  const title = textEl("span", "title", "Chat");
  const close = el("button", "close", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  header.append(title, close);
  const messages = el("ol", "messages");
  messages.setAttribute("aria-live", "polite");
  const status = el("p", "status");
  status.setAttribute("role", "status");
  const form = el("form");
  const input = el("input");
  Object.assign(input, { type: "text", maxLength: 4000, placeholder: "Type your question…", required: true });
  input.dir = "auto"; // Arabic is typed right to left
  input.setAttribute("aria-label", "Your message");
  const send = el("button", "send", "Send");
  send.type = "submit";
  form.append(input, send);
  panel.append(header, messages, status, form);
  root.append(style, panel, bubble);
  (document.body || document.documentElement).append(host);

  let config = null;
  let busy = false;
  const ready = getJSON(route)
    .then((c) => {
      config = c;
      title.textContent = stripBidi(c.name);
      panel.setAttribute("aria-label", `Chat with ${stripBidi(c.name)}`);
    })
    .catch((error) => {
      status.textContent = explain(error);
      status.className = "status error";
      input.disabled = send.disabled = true;
    });

  function toggle(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    if (open) input.focus();
  }
  bubble.addEventListener("click", () => toggle(panel.hidden));
  close.addEventListener("click", () => toggle(false));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await ready;
    const text = input.value.trim();
    if (!text || busy || !config) return;
    busy = true;
    send.disabled = true;
    input.value = "";
    status.textContent = "";
    status.className = "status";
    messages.append(textEl("li", "user", text));
    const item = el("li", "assistant streaming");
    const bubbleText = textEl("div", "text");
    item.append(bubbleText);
    messages.append(item);
    let streamed = "";
    try {
      const done = await streamAnswer(`${route}/messages`, {
        body: { message: text, conversation_id: store?.getItem(key) || null },
        onDelta: (delta) => {
          streamed += delta;
          renderText(bubbleText, streamed);
          messages.scrollTop = messages.scrollHeight;
        },
      });
      store?.setItem(key, done.conversation_id);
      showAnswer(item, bubbleText, done, config.link_hosts);
    } catch (error) {
      item.remove();
      status.textContent = explain(error);
      status.className = "status error";
    } finally {
      item.classList.remove("streaming");
      busy = false;
      send.disabled = false;
      messages.scrollTop = messages.scrollHeight;
    }
  });
}

function chatIcon() {
  const svg = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(svg, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(svg, "path");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H10l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  icon.append(path);
  return icon;
}

function showAnswer(item, text, done, linkHosts) {
  const details = new Map();
  const open = (c) => {
    const d = details.get(c.number);
    if (d) d.open = !d.open;
  };
  renderText(text, done.answer, { citations: done.citations, linkHosts, onCite: open });
  for (const c of done.citations) {
    const d = el("details", "source");
    d.append(citationLabel(el("summary"), c));
    d.append(renderText(textEl("p", "snippet"), c.snippet, { linkHosts }));
    details.set(c.number, d);
    item.append(d);
  }
}
