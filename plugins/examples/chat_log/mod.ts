/**
 * chat-log — an example plugin (see docs/plugins.md): it appends every delivered chat message
 * (from, to, body, time) to a JSON-lines file, or keeps it in memory when `path` is empty.
 *
 * It listens at `interceptor/outgoing/after`: that point runs once the stanza has been written to
 * a recipient's session, whatever brought it there (a full or bare JID, an offline replay), so it
 * means "delivered" and `session` says to which resource. A message that reaches two resources is
 * logged twice, once per session, which is what a delivery log should say.
 */
import { definePlugin } from "../../registry.ts";

export interface ChatLogEntry {
  from: string;
  /** the full JID of the session it was written to */
  to: string;
  body: string;
  /** ISO 8601 */
  time: string;
}

/** The in-memory log, offered as the "chat-log" service when no `path` is set. */
export interface ChatLog {
  readonly entries: readonly ChatLogEntry[];
}

export default definePlugin({
  name: "chat-log",
  description: "example: logs delivered chat messages as JSON lines",
  defaults: { path: "" },
  setup(api) {
    const { path } = api.options;
    const entries: ChatLogEntry[] = [];
    if (!path) api.provide<ChatLog>("chat-log", { entries });
    let writes = Promise.resolve();

    api.hook("interceptor/outgoing/after", ({ stanza, session }) => {
      const body = stanza.getChildText("body");
      if (!stanza.is("message") || stanza.attrs.type !== "chat" || body === undefined) return;
      const entry: ChatLogEntry = {
        from: stanza.attrs.from ?? "",
        to: session?.jid?.full ?? stanza.attrs.to ?? "",
        body,
        time: new Date().toISOString(),
      };
      if (!path) {
        entries.push(entry);
        return;
      }
      // One write at a time keeps lines whole and in order; a failed write is logged, not fatal.
      writes = writes
        .then(() => Deno.writeTextFile(path, JSON.stringify(entry) + "\n", { append: true }))
        .catch((e) => api.log.error("cannot write {path}: {error}", { path, error: String(e) }));
    });
    api.onStop(() => writes);
  },
});
