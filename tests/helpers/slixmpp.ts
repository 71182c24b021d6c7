/**
 * Runs `tests/clients/slixmpp_client.py` (python3-slixmpp, a real third-party client) against a
 * test server and follows the JSON events it prints, one per line.
 */
const SCRIPT = new URL("../clients/slixmpp_client.py", import.meta.url).pathname;

export interface SlixEvent {
  event: string;
  [field: string]: unknown;
}

export interface SlixmppOptions {
  port: number;
  jid: string;
  password: string;
  /** XEP-0368 direct TLS instead of STARTTLS */
  directTls?: boolean;
  register?: boolean;
  changePassword?: string;
  cancel?: boolean;
  /** send one chat message to this JID after login, then wait for one back */
  peer?: string;
  say?: string;
  /** the script's own deadline in seconds (default 20) */
  timeout?: number;
}

export interface SlixmppRun {
  /** every event so far, in order */
  readonly events: SlixEvent[];
  /** the first event (already printed or to come) matching; rejects on timeout or exit */
  waitFor(pred: (e: SlixEvent) => boolean, timeoutMs?: number): Promise<SlixEvent>;
  /** the exit code, once the script has ended */
  exit(): Promise<number>;
  /** stderr so far, for failure messages */
  stderr(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

export function runSlixmpp(opts: SlixmppOptions): SlixmppRun {
  const args = [
    SCRIPT,
    "--jid",
    opts.jid,
    "--password",
    opts.password,
    "--port",
    String(opts.port),
    "--timeout",
    String(opts.timeout ?? 20),
  ];
  if (opts.directTls) args.push("--direct-tls");
  if (opts.register) args.push("--register");
  if (opts.changePassword) args.push("--change-password", opts.changePassword);
  if (opts.cancel) args.push("--cancel");
  if (opts.peer) args.push("--peer", opts.peer);
  if (opts.say) args.push("--say", opts.say);
  const child = new Deno.Command("/usr/bin/python3", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  const events: SlixEvent[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  let errText = "";
  const notify = () => {
    for (const w of [...waiters]) w();
  };

  const readOut = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          events.push(JSON.parse(line) as SlixEvent);
        } catch {
          errText += `(stdout) ${line}\n`;
        }
      }
      notify();
    }
  })();
  const readErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) errText += chunk;
  })();
  const status = Promise.all([readOut, readErr]).then(() => child.status).then((s) => {
    ended = true;
    notify();
    return s.code;
  });

  return {
    events,
    waitFor(pred, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find(pred);
          if (e) return done(() => resolve(e));
          if (ended) {
            done(() =>
              reject(
                new Error(
                  `slixmpp exited without the event; events: ${JSON.stringify(events)}\n${errText}`,
                ),
              )
            );
          }
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(
                new Error(`timed out waiting for a slixmpp event; got ${JSON.stringify(events)}`),
              )
            ),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    exit: () => status,
    stderr: () => errText,
    async [Symbol.asyncDispose]() {
      if (!ended) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      await status;
    },
  };
}
