// The playground's WhatsApp panel: each connection's webhook URL (to paste into Meta's app),
// whether Meta has verified it, and its latest messages with their state, delivery status and
// error (a reply that could not be sent shows why). docs/whatsapp.md.
import { el } from "./render.js";

const STATE = { sent: "replied", failed: "not sent", limited: "over the limit", pending: "waiting", working: "answering" };

function messageRow(m) {
  const when = m.received_at ? new Date(m.received_at).toLocaleTimeString() : "";
  const status = m.state === "sent" && m.status ? `replied, ${m.status}` : STATE[m.state] || m.state;
  const row = el("tr", m.state === "failed" ? "failed" : "");
  row.append(el("td", "", when), el("td", "", m.kind), el("td", "", status), el("td", "muted", m.error || ""));
  return row;
}

function connectionBlock(c) {
  const verified = c.verified
    ? el("p", "verified", `✓ Verified by Meta ${new Date(c.verified_at).toLocaleString()}`)
    : el("p", "muted", "Not verified yet: paste the URL and your verify token into Meta's app (WhatsApp > Configuration).");
  const parts = [
    el("p", "muted", `Phone number ID ${c.phone_number_id}. Webhook URL:`),
    el("pre", "", c.webhook_url),
    verified,
  ];
  if (c.recent.length) {
    const table = el("table", "whatsapp-recent");
    const head = el("tr", "");
    head.append(...["Received", "Kind", "Reply", "Error"].map((h) => el("th", "", h)));
    table.append(el("thead", ""), el("tbody", ""));
    table.tHead.append(head);
    table.tBodies[0].append(...c.recent.map(messageRow));
    parts.push(table);
  }
  return parts;
}

/** Fill `box` with `bot`'s WhatsApp connections (read with `api(path)`). */
export async function loadWhatsApp(api, bot, box, isCurrent) {
  const { connections } = await api(`/v1/chatbots/${bot.id}/whatsapp`).catch(() => ({ connections: [] }));
  if (!isCurrent()) return;
  if (!connections.length) {
    box.replaceChildren(el("p", "muted", `None yet: intaj connection add --platform whatsapp --chatbot ${bot.name} --phone-number-id ID --access-token T --app-secret S`));
    return;
  }
  box.replaceChildren(...connections.flatMap(connectionBlock));
}
