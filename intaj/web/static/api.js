// Talking to the Intaj API from a browser: JSON requests and the SSE answer stream.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function errorFrom(response) {
  let code = "http_error";
  let message = `the server answered ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // not JSON: keep the status
  }
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** GET `url` as JSON; throws ApiError for any status but 2xx. */
export async function getJSON(url, headers = {}) {
  const response = await fetch(url, { headers: { Accept: "application/json", ...headers } });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/** PUT `body` as JSON to `url`; the JSON reply. Throws ApiError for any status but 2xx. */
export async function putJSON(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "PUT",
    headers: { Accept: "application/json", "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

/** The (event, data) pairs of a text/event-stream response, as they arrive. */
export async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      yield { event, data: data ? JSON.parse(data) : null };
    }
  }
}

/**
 * POST `body` to an answer route and read its SSE stream: `onDelta(text)` for each piece of
 * the answer; resolves with the `done` event's data. Throws ApiError (429 carries retryAfter).
 */
export async function streamAnswer(url, { headers = {}, body, onDelta = () => {} }) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorFrom(response);
  for await (const { event, data } of sseEvents(response)) {
    if (event === "delta") onDelta(data.text);
    else if (event === "done") return data;
    else if (event === "error") throw new ApiError(502, data.error.code, data.error.message);
  }
  throw new ApiError(502, "stream_ended", "the answer stopped before it was complete");
}
