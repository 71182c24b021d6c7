/** RFC 6121 §8.5.2 resource selection for messages to a bare JID. */
import type { Session } from "../../router/session.ts";

/** Available resources that may receive a bare-JID message (non-negative priority). */
export function deliverable(sessions: Session[]): Session[] {
  return sessions.filter((s) => s.available && s.priority >= 0);
}

/** The highest-priority available resources (RFC 6121 §8.5.2.1.1); ties all receive it. */
export function highestPriority(sessions: Session[]): Session[] {
  const ok = deliverable(sessions);
  if (ok.length <= 1) return ok;
  let top = -Infinity;
  for (const s of ok) if (s.priority > top) top = s.priority;
  return ok.filter((s) => s.priority === top);
}
