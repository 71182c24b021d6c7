// Converse 14's dist/converse.min.js is an ES module (its chunks are loaded relative to it).
import converse from "/dist/converse.min.js";

// Starts Converse.js against the Parley under test. The query string says how to connect:
//   ?websocket_url=ws://127.0.0.1:PORT/xmpp-websocket   or   ?bosh_service_url=http://.../http-bind
// The login form is left to the test (authentication "login", no auto_login).
const params = new URLSearchParams(location.search);
const settings = {
  view_mode: "fullscreen",
  authentication: "login",
  auto_login: false,
  discover_connection_methods: false,
  assets_path: "/dist",
  i18n: "en",
  loglevel: params.get("loglevel") ?? "info",
  play_sounds: false,
  show_desktop_notifications: false,
  allow_user_trust_override: false,
  show_connection_url_input: false,
  registration_domain: "",
  allow_registration: false,
};
if (params.has("websocket_url")) settings.websocket_url = params.get("websocket_url");
if (params.has("bosh_service_url")) settings.bosh_service_url = params.get("bosh_service_url");
await converse.initialize(settings);
