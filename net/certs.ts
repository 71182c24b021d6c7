/**
 * The server certificate: the configured PEM files, or a self-signed P-256 certificate for the
 * domain (npm:selfsigned), made once and kept in the data directory so clients that pin it on
 * first use keep trusting it across restarts.
 */
import { generate } from "selfsigned";
import { logger } from "../log/mod.ts";

const log = logger("tls");

export interface CertificatePair {
  cert: string;
  key: string;
  selfSigned: boolean;
}

export async function loadCertificate(
  opts: { domain: string; dataDir: string; cert?: string; key?: string },
): Promise<CertificatePair> {
  if (opts.cert && opts.key) {
    return {
      cert: await Deno.readTextFile(opts.cert),
      key: await Deno.readTextFile(opts.key),
      selfSigned: false,
    };
  }
  const dir = `${opts.dataDir}/certs`;
  const certPath = `${dir}/${opts.domain}.crt`;
  const keyPath = `${dir}/${opts.domain}.key`;
  try {
    return {
      cert: await Deno.readTextFile(certPath),
      key: await Deno.readTextFile(keyPath),
      selfSigned: true,
    };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const pems = await generate([{ name: "commonName", value: opts.domain }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 825 * 24 * 3600 * 1000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: opts.domain },
          { type: 2, value: `*.${opts.domain}` },
        ],
      },
    ],
  });
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(certPath, pems.cert);
  await Deno.writeTextFile(keyPath, pems.private, { mode: 0o600 });
  log.warning("no certificate configured: made a self-signed one for {domain} in {dir}", {
    domain: opts.domain,
    dir,
  });
  return { cert: pems.cert, key: pems.private, selfSigned: true };
}
