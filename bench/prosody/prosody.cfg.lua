-- Prosody instance for Parley's load comparison (bench/compare.sh). Everything variable comes from
-- the environment so the file is used as is from the repo; run as a separate instance, never the
-- system service.
local env = os.getenv
local dir = env("BENCH_DATA_DIR") or "/tmp/parley-bench/prosody"
local domain = env("BENCH_DOMAIN") or "localhost"

data_path = dir
-- Certificates come from BENCH_CERT/BENCH_KEY; keep the scan away from the repo.
certificates = dir
pidfile = dir .. "/prosody.pid"
daemonize = false
-- Warnings only: logging every session at info level would bill the log to the login figures.
log = { warn = dir .. "/prosody.log" }
network_backend = "epoll"

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { tonumber(env("BENCH_C2S_PORT") or "15222") }
c2s_interfaces = { "127.0.0.1" }
-- No s2s, HTTP or components beyond MUC: only what the scenarios exercise.
modules_disabled = { "s2s" }
http_ports = {}
https_ports = {}
c2s_direct_tls_ports = {}

admins = {}
modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "offline"; "mam"; "posix";
}

-- Loopback benchmark: plaintext c2s allowed, no rate limits (mod_limits is not loaded).
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = false
allow_registration = true
-- Loopback is allowlisted by default; keep registration unthrottled for provisioning bursts.
registration_allowlist = { "127.0.0.1", "::1" }

authentication = "internal_hashed"
storage = env("BENCH_STORAGE") or "internal"

-- Archive everything, as Parley does, so message figures include archiving on both servers.
default_archive_policy = true
archive_expires_after = "never"
max_archive_query_results = 250

local cert = env("BENCH_CERT")
if cert then
	ssl = { certificate = cert; key = env("BENCH_KEY") }
end

VirtualHost (domain)

Component ("conference." .. domain) "muc"
	restrict_room_creation = false
	-- Rooms open at once, as in ejabberd; the client still submits the default form on status 201.
	muc_room_locking = false
	max_history_messages = 20
