// The owner's playground: pick a chatbot, chat with it (the API's SSE answer route), open
// the passages its answers cite, watch its sources' ingestion, read its FAQs.
import { ApiError, getJSON, putJSON, streamAnswer } from "./api.js";
import { citationLabel, el, renderText, textEl, whereNodes } from "./render.js";
import { loadUsage } from "./usage-panel.js";
import { loadWhatsApp } from "./whatsapp-panel.js";

const $ = (id) => document.getElementById(id);
const CREDENTIAL = "intaj:playground:credential";
const state = { credential: null, bots: [], bot: null, conversation: null, poll: null, busy: false };

function authHeaders() {
  const c = state.credential || "";
  return c.split(".").length === 3 ? { Authorization: `Bearer ${c}` } : { "X-API-Key": c };
}

function api(path) {
  return getJSON(path, authHeaders());
}

/** A key or a Supabase access token handed over in the URL's fragment, then wiped from it. */
function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const credential = params.get("key") || params.get("access_token");
  if (credential) sessionStorage.setItem(CREDENTIAL, credential);
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return params.get("chatbot");
}

function signedOut(message = "") {
  sessionStorage.removeItem(CREDENTIAL);
  state.credential = null;
  clearTimeout(state.poll);
  for (const id of ["app", "chatbot-picker", "language-picker", "sign-out", "new-conversation"]) $(id).hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("credential").focus();
}

async function start(wanted = null) {
  state.credential = sessionStorage.getItem(CREDENTIAL);
  if (!state.credential) return signedOut();
  let bots;
  try {
    ({ chatbots: bots } = await api("/v1/chatbots"));
  } catch (e) {
    return e instanceof ApiError && e.status === 401 ? signedOut(e.message) : fatal(e);
  }
  state.bots = bots;
  const select = $("chatbot");
  select.replaceChildren(...bots.map((b) => Object.assign(el("option", "", b.name), { value: b.id })));
  $("sign-in").hidden = true;
  for (const id of ["app", "chatbot-picker", "language-picker", "sign-out", "new-conversation"]) $(id).hidden = false;
  if (!bots.length) {
    $("chat-empty").textContent = "No chatbot yet: intaj ingest FILE --chatbot NAME creates one.";
    return;
  }
  const chosen = bots.find((b) => b.id === wanted || b.name === wanted) || bots[0];
  select.value = chosen.id;
  choose(chosen.id);
}

function fatal(error) {
  $("fatal").hidden = false;
  $("fatal").textContent = `Something went wrong: ${error.message}`;
}

function choose(id) {
  state.bot = state.bots.find((b) => b.id === id);
  $("language").value = state.bot.language || "en";
  $("language-status").textContent = "";
  state.conversation = null;
  $("messages").replaceChildren();
  $("chat-empty").hidden = false;
  $("passage").hidden = true;
  clearTimeout(state.poll);
  refreshSources();
  loadFaqs();
  loadWidgets();
  const bot = state.bot;
  loadWhatsApp(api, bot, $("whatsapp"), () => bot === state.bot);
  loadUsage(api, bot, $("usage"), () => bot === state.bot);
}

// --- chat -----------------------------------------------------------------------------------

async function ask(text) {
  const bot = state.bot;
  $("chat-empty").hidden = true;
  const list = $("messages");
  list.append(textEl("li", "user", text));
  const item = el("li", "assistant streaming");
  const bubble = textEl("div", "text");
  item.append(bubble);
  list.append(item);
  item.scrollIntoView({ block: "end" });
  let streamed = "";
  try {
    const done = await streamAnswer(`/v1/chatbots/${bot.id}/messages`, {
      headers: authHeaders(),
      body: { message: text, stream: true, conversation_id: state.conversation },
      onDelta: (delta) => {
        streamed += delta;
        renderText(bubble, streamed);
        item.scrollIntoView({ block: "end" });
      },
    });
    state.conversation = done.conversation_id;
    showAnswer(item, bubble, done, bot);
  } catch (e) {
    item.classList.add("failed");
    bubble.textContent = e instanceof ApiError && e.status === 401 ? "Signed out: sign in again." : e.message;
    if (e instanceof ApiError && e.status === 401) signedOut(e.message);
  } finally {
    item.classList.remove("streaming");
  }
}

function showAnswer(item, bubble, done, bot) {
  const open = (c) => openPassage(c, bot, item);
  renderText(bubble, done.answer, { citations: done.citations, linkHosts: bot.link_hosts, onCite: open });
  if (done.citations.length) {
    const list = textEl("ol", "citations");
    for (const c of done.citations) {
      const button = citationLabel(el("button"), c);
      button.type = "button";
      button.dataset.number = c.number;
      button.addEventListener("click", () => open(c));
      const li = el("li");
      li.append(button);
      list.append(li);
    }
    item.append(list);
  }
  const meta = done.abstained ? "abstained" : `confidence ${done.confidence.toFixed(2)}`;
  item.append(el("p", "meta", meta));
}

async function openPassage(citation, bot, item) {
  for (const b of document.querySelectorAll(".cite.active, .citations button.active")) b.classList.remove("active");
  for (const b of item.querySelectorAll(`.cite, .citations button`)) {
    if (b.textContent === String(citation.number) || b.dataset.number === String(citation.number)) {
      b.classList.add("active");
    }
  }
  const panel = $("passage");
  panel.hidden = false;
  panel.dataset.number = citation.number;
  citationLabel($("passage-title"), citation, { place: false });
  const at = whereNodes(citation.metadata);
  $("passage-where").replaceChildren(...(at.length ? at : ["\u00a0"]));
  const text = $("passage-text");
  renderText(text, citation.snippet, { linkHosts: bot.link_hosts });
  if (citation.chunk_id == null) return;
  try {
    const passage = await api(`/v1/chatbots/${bot.id}/passages/${citation.chunk_id}`);
    if (panel.dataset.number === String(citation.number)) {
      renderText(text, passage.content, { linkHosts: bot.link_hosts });
      text.dataset.loaded = "true";
    }
  } catch (e) {
    text.append(el("p", "error", `(the whole passage could not be loaded: ${e.message})`));
  }
}

// --- sources, FAQs, widgets -----------------------------------------------------------------

async function refreshSources() {
  const bot = state.bot;
  let sources;
  try {
    ({ sources } = await api(`/v1/chatbots/${bot.id}/sources`));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signedOut(e.message);
    sources = null;
  }
  if (bot !== state.bot) return;
  const body = $("sources").tBodies[0];
  body.replaceChildren(...(sources || []).map(sourceRow));
  if (sources && !sources.length) {
    const empty = el("td", "muted", "No sources yet.");
    empty.colSpan = 4;
    const tr = el("tr");
    tr.append(empty);
    body.append(tr);
  }
  const busy = (sources || []).some((s) => s.status === "pending" || s.status === "processing" || s.run?.status === "running");
  state.poll = setTimeout(refreshSources, busy ? 1500 : 10000);
}


function sourceRow(s) {
  const tr = el("tr");
  tr.dataset.status = s.status;
  const name = textEl("td", "name", s.name);
  const status = el("td");
  status.append(el("span", `status ${s.status}`, s.status));
  const chunks = el("td", "", String(s.chunks));
  let detail = "";
  if (s.error) detail = `${s.error_code ? `${s.error_code}: ` : ""}${s.error}`;
  else if (s.run && s.run.status === "running") detail = `running: ${s.run.stage || "starting"}`;
  else if (s.run) detail = `${s.run.embedded} embedded, ${s.run.reused} reused`;
  tr.append(name, status, chunks, el("td", s.error ? "error" : "muted", detail));
  return tr;
}

async function loadFaqs() {
  const bot = state.bot;
  const { faqs } = await api(`/v1/chatbots/${bot.id}/faqs`).catch(() => ({ faqs: [] }));
  if (bot !== state.bot) return;
  $("faq-count").textContent = `(${faqs.length})`;
  $("faqs").replaceChildren(...faqs.flatMap((f) => [textEl("dt", "", f.question), textEl("dd", "", f.answer)]));
}

async function loadWidgets() {
  const bot = state.bot;
  const { widgets } = await api(`/v1/chatbots/${bot.id}/widgets`).catch(() => ({ widgets: [] }));
  if (bot !== state.bot) return;
  const box = $("widgets");
  if (!widgets.length) {
    box.replaceChildren(el("p", "muted", `None yet: intaj widget add --chatbot ${bot.name} --origin https://your.site`));
    return;
  }
  box.replaceChildren(...widgets.flatMap((w) => [
    el("p", "muted", `Answers on ${w.allowed_origins.join(", ") || "no site yet"}. Paste into your pages:`),
    el("pre", "", `<script src="${location.origin}/static/widget.js" data-chatbot="${w.id}" async></script>`),
  ]));
}

// --- wiring ---------------------------------------------------------------------------------

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(CREDENTIAL, $("credential").value.trim());
  $("credential").value = "";
  start();
});
$("sign-out").addEventListener("click", () => signedOut());
$("chatbot").addEventListener("change", (event) => choose(event.target.value));
$("language").addEventListener("change", async (event) => {
  const bot = state.bot;
  const wanted = event.target.value;
  $("language").disabled = true;
  $("language-status").textContent = "switching… (a new model embeds every source again)";
  try {
    const done = await putJSON(`/v1/chatbots/${bot.id}/language`, { language: wanted }, authHeaders());
    bot.language = done.language;
    $("language-status").textContent = `now ${done.language}: ${done.embedding_model}`;
  } catch (e) {
    $("language").value = bot.language || "en";
    $("language-status").textContent = `not changed: ${e.message}`;
  } finally {
    $("language").disabled = false;
  }
});
$("new-conversation").addEventListener("click", () => choose(state.bot.id));
$("passage-close").addEventListener("click", () => { $("passage").hidden = true; });
$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("message").value.trim();
  if (!text || state.busy || !state.bot) return;
  state.busy = true;
  $("send").disabled = true;
  $("message").value = "";
  try {
    await ask(text);
  } finally {
    state.busy = false;
    $("send").disabled = false;
    $("message").focus();
  }
});
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("ask").requestSubmit();
  }
});

start(readFragment());
