/**
 * Reading a password for `deno task ctl`: from the terminal without echo when stdin is a TTY
 * (asked twice, so a typo does not lock the user out), otherwise the first line of stdin, so
 * scripts can pipe one in without it showing in `ps` the way `--password` does.
 */

export class PasswordInputError extends Error {
  override name = "PasswordInputError";
}

const encoder = new TextEncoder();

/** Reads one line from a non-TTY stdin; the line ending is not part of the password. */
export async function readLine(stream: ReadableStream<Uint8Array> = Deno.stdin.readable) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.includes("\n")) break;
    }
    text += decoder.decode();
  } finally {
    // Only one line is wanted; the rest of stdin is not ours to wait for.
    await reader.cancel().catch(() => {});
  }
  const nl = text.indexOf("\n");
  const line = nl < 0 ? text : text.slice(0, nl);
  if (nl < 0 && line === "") throw new PasswordInputError("no password given on stdin");
  return line.replace(/\r$/, "");
}

/** Reads a line from the terminal in raw mode, echoing nothing. Ctrl-C and Ctrl-D abort. */
async function readHidden(prompt: string): Promise<string> {
  await Deno.stderr.write(encoder.encode(prompt));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(64);
  try {
    while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null) throw new PasswordInputError("no password given (end of input)");
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
        if (b === 0x03) throw new PasswordInputError("cancelled");
        if (b === 0x04 && bytes.length === 0) {
          throw new PasswordInputError("no password given (end of input)");
        }
        if (b === 0x7f || b === 0x08) {
          // Backspace removes a whole UTF-8 character, not just its last byte.
          while (bytes.length && ((bytes.pop()! & 0xc0) === 0x80));
          continue;
        }
        bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}

/** The new password: typed twice on a terminal, or one line of piped stdin. */
export async function promptPassword(): Promise<string> {
  if (!Deno.stdin.isTerminal()) return await readLine();
  const first = await readHidden("Password: ");
  const second = await readHidden("Password (again): ");
  if (first !== second) throw new PasswordInputError("the passwords do not match");
  return first;
}
