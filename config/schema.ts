/**
 * The configuration schema (zod): one place that says what every core setting is, its default and
 * its bounds. Plugin sections are validated by each plugin's own `parseOptions` at start-up.
 */
import { z } from "zod";

const port = z.number().int().min(0).max(65535);

/** Components and plugins on by default: a working chat server with nothing to configure. */
export const DEFAULT_COMPONENTS = [
  "c2s",
  "sess-man",
  "disco",
  "ping",
  "version",
  "jabber:iq:roster",
  "presence-subscription",
  "msgoffline",
  "message-archive",
  "message-carbons",
  "vcard-temp",
  "private",
  "muc",
  "http",
  "bosh",
  "ws",
  "host-meta",
] as const;

/** Bytes in a size written the way PostgreSQL reads it ("32MB"): units are powers of 1024. */
function sizeBytes(v: string): number {
  const m = /^([0-9]+)(kB|MB|GB)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as "kB" | "MB" | "GB"];
}

export const coreSchema = z.object({
  domain: z.string().min(1).default("localhost"),
  data_dir: z.string().min(1).default("./data"),
  database_url: z.string().url().optional(),
  /** the embedded database's page cache; PostgreSQL's own size syntax, checked here */
  embedded_shared_buffers: z.string().regex(
    /^[1-9][0-9]*(kB|MB|GB)$/,
    'a size with its unit, such as "32MB" (kB, MB or GB)',
  ).refine((v) => sizeBytes(v) >= 1024 * 1024, "at least 1MB").default("32MB"),
  components: z.array(z.string().min(1)).default([...DEFAULT_COMPONENTS]),
  log: z.object({
    level: z.enum(["debug", "info", "warning", "error"]).default("info"),
    format: z.enum(["text", "json"]).default("text"),
  }).strict().default({ level: "info", format: "text" }),
  tls: z.object({
    /** PEM files; when both are absent a self-signed certificate is made for the domain */
    cert: z.string().optional(),
    key: z.string().optional(),
  }).strict().refine((t) => (t.cert === undefined) === (t.key === undefined), {
    message: "tls.cert and tls.key go together: set both or neither",
  }).default({}),
  limits: z.object({
    max_stanza_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(262144),
    max_depth: z.number().int().min(4).max(1024).default(64),
    /** new connections per remote address per minute; loopback is exempt */
    connections_per_ip_per_minute: z.number().int().min(1).default(120),
    /** SASL failures per remote address before logins from it are throttled */
    auth_failures_before_throttle: z.number().int().min(1).default(5),
    auth_throttle_seconds: z.number().int().min(1).default(60),
  }).strict().default({
    max_stanza_bytes: 262144,
    max_depth: 64,
    connections_per_ip_per_minute: 120,
    auth_failures_before_throttle: 5,
    auth_throttle_seconds: 60,
  }),
  c2s: z.object({
    host: z.string().default("0.0.0.0"),
    /** STARTTLS port; 0 picks a free port */
    port: port.default(5222),
    /** direct TLS port (XEP-0368); 0 picks a free port, -1 disables it */
    tls_port: z.number().int().min(-1).max(65535).default(5223),
    /** refuse authentication before TLS; switch off only for loopback benchmarks */
    require_encryption: z.boolean().default(true),
    stream_open_timeout_seconds: z.number().positive().default(10),
    auth_timeout_seconds: z.number().positive().default(60),
  }).strict().default({
    host: "0.0.0.0",
    port: 5222,
    tls_port: 5223,
    require_encryption: true,
    stream_open_timeout_seconds: 10,
    auth_timeout_seconds: 60,
  }),
  http: z.object({
    host: z.string().default("0.0.0.0"),
    port: port.default(5280),
    tls_port: z.number().int().min(-1).max(65535).default(5281),
  }).strict().default({ host: "0.0.0.0", port: 5280, tls_port: 5281 }),
}).passthrough();

export type CoreConfigInput = z.input<typeof coreSchema>;
type CoreParsed = z.output<typeof coreSchema>;

/** Validated configuration: the core settings plus one raw section per plugin name. */
export interface ParleyConfig {
  domain: string;
  dataDir: string;
  databaseUrl?: string;
  /** shared_buffers of the embedded database (PGlite); unused with `databaseUrl` */
  embeddedSharedBuffers: string;
  components: string[];
  log: CoreParsed["log"];
  tls: { cert?: string; key?: string };
  limits: CoreParsed["limits"];
  c2s: CoreParsed["c2s"];
  http: CoreParsed["http"];
  /** `[name]` tables of the file for plugins, validated by the plugin's parseOptions */
  sections: Record<string, Record<string, unknown>>;
  /** where the configuration came from, for the start-up log */
  source: string;
}
