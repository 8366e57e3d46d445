// The playground's usage panel: the plan of the chatbot's owner and, for each of its limits,
// what is used of it (GET /v1/chatbots/{id}/usage; docs/plans.md). A limit that is full is
// marked: the next upload, message or connection over it is refused (402 plan_limit).
import { el } from "./render.js";

const LABELS = {
  chatbots: "Chatbots",
  messages_per_month: "Messages this month",
  widgets: "Website widgets",
  whatsapp_connections: "WhatsApp connections",
  sources_per_chatbot: "Data sources",
  bytes_per_chatbot: "Stored bytes",
};

function row(name, pair) {
  const allowed = pair.allowed === null ? "no limit" : pair.allowed.toLocaleString();
  const full = pair.allowed !== null && pair.used !== null && pair.used >= pair.allowed;
  const tr = el("tr", full ? "failed" : "");
  tr.append(el("td", "", LABELS[name]), el("td", "", `${pair.used.toLocaleString()} of ${allowed}`));
  return tr;
}

/** Fill `box` with the usage of `bot`'s owner (read with `api(path)`). */
export async function loadUsage(api, bot, box, isCurrent) {
  const usage = await api(`/v1/chatbots/${bot.id}/usage`).catch(() => null);
  if (!isCurrent()) return;
  if (!usage) {
    box.replaceChildren(el("p", "muted", "Usage is not available."));
    return;
  }
  const mine = usage.chatbots.find((c) => c.id === bot.id);
  const table = el("table", "usage");
  table.append(el("tbody", ""));
  const { file_bytes: largest, ...counted } = usage.limits;
  table.tBodies[0].append(...Object.entries(counted).map(([name, pair]) => row(name, pair)));
  if (mine) {
    table.tBodies[0].append(row("sources_per_chatbot", mine.sources_per_chatbot),
                            row("bytes_per_chatbot", mine.bytes_per_chatbot));
  }
  const file = largest.allowed === null ? "any size" : `${largest.allowed.toLocaleString()} bytes at most`;
  box.replaceChildren(el("p", "muted", `Plan: ${usage.plan}. Each file: ${file}.`), table);
}
