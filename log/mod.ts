/**
 * Structured logging through LogTape (npm:@logtape/logtape): categories per subsystem, levels,
 * text or JSON lines on stderr. Callers pass values as properties, never inside the message text,
 * and never pass passwords or SASL payloads (they are not logged anywhere in Parley).
 */
import {
  configure,
  getConsoleSink,
  getLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
  reset,
} from "@logtape/logtape";

export type { Logger };
export type LogLevel = "debug" | "info" | "warning" | "error";

/** A logger for one subsystem: `logger("c2s").info("stream opened {id}", { id })`. */
export function logger(category: string): Logger {
  return getLogger(["parley", category]);
}

let configured = false;

/** Configures the sinks once per process; later calls reconfigure. */
export async function setupLogging(
  opts: { level: LogLevel; format: "text" | "json" },
): Promise<void> {
  if (configured) await reset();
  await configure({
    sinks: {
      stderr: getConsoleSink({
        formatter: opts.format === "json" ? jsonLinesFormatter : getTextFormatter(),
      }),
    },
    loggers: [
      { category: ["parley"], lowestLevel: opts.level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
    reset: true,
  });
  configured = true;
}
