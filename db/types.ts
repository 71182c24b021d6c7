/**
 * Storage interfaces, one per feature (ejabberd's mod_* backends). Every store is implemented once
 * in SQL and runs on PostgreSQL (npm:postgres) or embedded PGlite; the same contract tests run on
 * both. Users are always identified by their bare JID string ("user@domain"), already normalised.
 */

/** SCRAM credentials for one hash: never the password itself (RFC 5802 §3). */
export interface ScramCredential {
  /** base64 salt */
  salt: string;
  iterations: number;
  /** base64 H(ClientKey) */
  storedKey: string;
  /** base64 HMAC(SaltedPassword, "Server Key") */
  serverKey: string;
}

export interface AccountCredentials {
  "SHA-1": ScramCredential;
  "SHA-256": ScramCredential;
}

export interface AccountRecord {
  jid: string;
  credentials: AccountCredentials;
  createdAt: Date;
}

export interface AccountStore {
  /** Creates the account; false when it already exists. */
  create(jid: string, credentials: AccountCredentials): Promise<boolean>;
  /** Read from the database, never from a cache. */
  get(jid: string): Promise<AccountRecord | null>;
  /**
   * The credentials a login checks against; null when there is no such account. May be served
   * from memory, but only while every change to the account, by any writer, is being heard.
   */
  credentials(jid: string): Promise<AccountCredentials | null>;
  exists(jid: string): Promise<boolean>;
  /** Replaces the credentials; false when there is no such account. */
  setCredentials(jid: string, credentials: AccountCredentials): Promise<boolean>;
  /** Deletes the account and everything stored for it (roster, offline, archive, vcard, private). */
  delete(jid: string): Promise<boolean>;
  list(): Promise<string[]>;
}

export type Subscription = "none" | "to" | "from" | "both";

export interface RosterItem {
  /** the contact's bare JID */
  jid: string;
  name?: string;
  subscription: Subscription;
  /** an outbound subscription request is pending ("ask='subscribe'") */
  askOut: boolean;
  /** an inbound subscription request is pending, not yet approved or denied */
  pendingIn: boolean;
  /** the stored inbound subscribe stanza (XML) to re-send at login, when pendingIn */
  pendingInStanza?: string;
  groups: string[];
}

export interface RosterStore {
  /** Items and the current version string (XEP-0237). */
  get(owner: string): Promise<{ version: string; items: RosterItem[] }>;
  getItem(owner: string, contact: string): Promise<RosterItem | null>;
  /** Inserts or replaces the item; bumps and returns the roster version. */
  put(owner: string, item: RosterItem): Promise<string>;
  /** Removes the item; returns the new version, or null when there was no such item. */
  remove(owner: string, contact: string): Promise<string | null>;
}

export interface OfflineMessage {
  id: number;
  /** bare JID of the recipient */
  owner: string;
  /** full JID of the sender as stamped by the server */
  from: string;
  stamp: Date;
  /** the message as serialized XML */
  xml: string;
  bytes: number;
}

export interface OfflineUsage {
  count: number;
  bytes: number;
}

export interface OfflineStore {
  store(owner: string, from: string, xml: string, stamp?: Date): Promise<OfflineMessage>;
  /** Stores several messages for one owner in one statement, in order. */
  storeMany(owner: string, messages: { from: string; xml: string; stamp?: Date }[]): Promise<void>;
  /** Oldest first. */
  list(owner: string, limit?: number): Promise<OfflineMessage[]>;
  /** Usage for the owner; with `fromBare`, only messages whose sender's bare JID is fromBare. */
  usage(owner: string, fromBare?: string): Promise<OfflineUsage>;
  /** Deletes the given ids of that owner; returns how many rows went. */
  delete(owner: string, ids: number[]): Promise<number>;
  deleteAll(owner: string): Promise<number>;
}

export interface ArchiveEntry {
  /** XEP-0359 stanza-id: unique, opaque, assigned by the caller */
  id: string;
  /** bare JID of the archive's owner (a user, or a MUC room) */
  owner: string;
  /** bare JID of the peer */
  with: string;
  direction: "in" | "out";
  stamp: Date;
  /** the message as serialized XML */
  xml: string;
}

export interface ArchiveQuery {
  owner: string;
  with?: string;
  start?: Date;
  end?: Date;
  /** RSM: items strictly after this id */
  after?: string;
  /** RSM: items strictly before this id; "" means the last page */
  before?: string;
  /** only these ids (XEP-0313 ids field) */
  ids?: string[];
  max: number;
}

export interface ArchivePage {
  /** in chronological order */
  items: ArchiveEntry[];
  /** true when the page reaches the end of the result set in the paging direction */
  complete: boolean;
  /** total matches of the query ignoring paging */
  count: number;
  /** 0-based position of the first item in the full result set */
  firstIndex: number;
}

export interface ArchivePrefs {
  default: "always" | "never" | "roster";
  always: string[];
  never: string[];
}

export interface ArchiveStore {
  /**
   * Queues entries for writing; resolves once they are committed. Concurrent calls are grouped
   * into one transaction (group commit) so archiving never caps the message rate.
   */
  append(entry: ArchiveEntry): Promise<void>;
  /** Queues like `append` without waiting; a failed write is reported by the store. */
  enqueue(entry: ArchiveEntry): void;
  query(q: ArchiveQuery): Promise<ArchivePage>;
  getPrefs(owner: string): Promise<ArchivePrefs>;
  setPrefs(owner: string, prefs: ArchivePrefs): Promise<void>;
  /** Resolves once everything queued so far is committed. */
  flush(): Promise<void>;
  /** Counts of the group commit so far, for metrics and benchmarks. */
  stats(): { batches: number; entries: number };
}

export interface VCardStore {
  get(owner: string): Promise<string | null>;
  set(owner: string, xml: string): Promise<void>;
}

export interface PrivateStore {
  /** key is "<localName> <namespace>" of the stored element */
  get(owner: string, key: string): Promise<string | null>;
  set(owner: string, key: string, xml: string): Promise<void>;
}

/** A stored affiliation with a MUC room (XEP-0045 §5.2); "none" is never stored. */
export type MucAffiliation = "owner" | "admin" | "member" | "outcast";

/** A persistent MUC room: what survives a restart. */
export interface MucRoomRecord {
  /** the room's bare JID, e.g. "room@conference.example.org" */
  jid: string;
  /** the room configuration, as the muc plugin defines it (stored as JSON) */
  config: Record<string, unknown>;
  /** bare JID -> affiliation */
  affiliations: Record<string, MucAffiliation>;
  subject: string;
  /** the nick that set the subject ("" when none) */
  subjectBy: string;
}

export interface MucStore {
  get(jid: string): Promise<MucRoomRecord | null>;
  /** Every stored room of one MUC service (host), by JID. */
  list(host: string): Promise<MucRoomRecord[]>;
  /** Inserts or replaces the room, its affiliations replaced as a whole. */
  save(room: MucRoomRecord): Promise<void>;
  delete(jid: string): Promise<boolean>;
}

export interface Database {
  readonly kind: "postgres" | "pglite";
  accounts: AccountStore;
  roster: RosterStore;
  offline: OfflineStore;
  archive: ArchiveStore;
  vcard: VCardStore;
  private: PrivateStore;
  /** persistent MUC rooms; absent on databases that do not offer them */
  muc?: MucStore;
  close(): Promise<void>;
}
