//! The embedded event store: one SQLite database in WAL mode inside the log directory.
//!
//! Each event is one row, in arrival order: its id, user, timestamp and the canonical JSON of
//! the whole event. A batch is one transaction; with [`SyncPolicy::Full`] the commit is fsynced
//! before `append` returns, so an acknowledged batch survives a crash of the process or of the
//! machine.
//!
//! Only appends happen at commit time: the rows themselves (keyed by arrival) and one row per
//! block of 1024 rows giving the block's time range (a block-range index). Indexes keyed by
//! event id or user would be random inserts, and measured here they cut durable ingest four-fold
//! at 200k events (each commit rewrites hundreds of scattered index pages); even a B-tree on
//! the timestamp cost a fifth of the rate. So:
//! - idempotency uses the `ids` table, keyed by (timestamp, digest of the event id) with the
//!   digest of the stored body: a retry (the same event, so the same timestamp) is found by one
//!   lookup and is a duplicate; the same id under the same timestamp with other content is
//!   refused. Keyed by time first, live traffic's inserts land on the table's last pages, so a
//!   commit rewrites a few pages, not pages scattered over the table (what an index on the id
//!   alone costs), and nothing is loaded at start-up: memory and start-up do not grow with the
//!   log. An id re-sent with another timestamp and other content is refused only while it is
//!   among the writer's last [`RECENT_IDS`] stored ids; a lock file makes the opener the only
//!   writer of the directory;
//! - the per-user time-ordered scan sorts (user, time, seq) keys in memory, then reads rows;
//! - reads by time visit the blocks whose time range overlaps the window: few when events
//!   arrive close to time order, as live traffic does;
//! - reads by user scan the requested time window the same way.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::path::{Path, PathBuf};

use rusqlite::{CachedStatement, Connection, OpenFlags, params};
use selflearn_types::TurnEvent;
use serde::{Deserialize, Serialize};

use crate::error::{LogError, Position, Result};

/// File name of the database inside the log directory.
pub const DB_FILE: &str = "events.db";
/// File locked by the one writer of a log directory.
pub const LOCK_FILE: &str = "writer.lock";
/// Page size of a new store. Larger pages than SQLite's 4 KiB default measured 25% faster
/// ingest here: an event's JSON is ~700 bytes and each commit writes whole pages to the WAL.
const PAGE_SIZE: u32 = 16_384;
/// On-disk format version, kept in SQLite's `user_version`.
const FORMAT_VERSION: i64 = 5;
/// Earlier formats, upgraded in place when opened for writing: format 4 added the `forgotten`
/// table, format 5 the `ids` table, filled from the stored events.
const UPGRADABLE_VERSIONS: [i64; 2] = [3, 4];
/// Ids of the last events stored by this writer, with their timestamps: what tells an id
/// re-sent under another timestamp with other content from a new event.
pub const RECENT_IDS: usize = 65_536;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,
    event_id TEXT    NOT NULL,
    user_id  TEXT    NOT NULL,
    ts_ms    INTEGER NOT NULL,
    body     TEXT    NOT NULL
);
-- A block-range index, as PostgreSQL's BRIN: one row per block of consecutive rows with the
-- range of their timestamps. Reads by time visit the blocks that overlap the query.
CREATE TABLE IF NOT EXISTS blocks (
    first_seq INTEGER PRIMARY KEY,
    last_seq  INTEGER NOT NULL,
    min_ts    INTEGER NOT NULL,
    max_ts    INTEGER NOT NULL
);
-- Tombstones of deleted events: a stable digest of each id (never the id, user or body), so that
-- an event of a forgotten user that is sent again counts as a duplicate instead of being stored.
CREATE TABLE IF NOT EXISTS forgotten (
    digest BLOB PRIMARY KEY
) WITHOUT ROWID;
-- The id index: each stored event's timestamp and a stable 64-bit digest of its id, with the
-- digest of its stored body (a retry is the same body; other content under the id is refused).
CREATE TABLE IF NOT EXISTS ids (
    ts_ms       INTEGER NOT NULL,
    id_digest   INTEGER NOT NULL,
    body_digest INTEGER NOT NULL,
    PRIMARY KEY (ts_ms, id_digest)
) WITHOUT ROWID;
";

/// Rows per block of the block-range time index.
const BLOCK_ROWS: u32 = 1024;

/// When the store forces writes to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPolicy {
    /// fsync at every commit: an acknowledged batch survives power loss.
    #[default]
    Full,
    /// fsync at checkpoints only: an acknowledged batch survives a process crash, but the last
    /// commits may be lost on power loss.
    Normal,
}

/// Options for opening a log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogOptions {
    /// When writes reach stable storage.
    #[serde(default)]
    pub sync: SyncPolicy,
}

/// What [`EventLog::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The database file.
    pub path: PathBuf,
    /// Rows read.
    pub events: u64,
    /// Everything wrong, page-level first; empty when the log is sound.
    pub problems: Vec<String>,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        if self.problems.is_empty() {
            return write!(
                f,
                "{path}: sound ({} events, every page and record checked)",
                self.events
            );
        }
        writeln!(
            f,
            "{path}: {} problems ({} events read):",
            self.problems.len(),
            self.events
        )?;
        for problem in &self.problems {
            writeln!(f, "  {problem}")?;
        }
        write!(
            f,
            "to recover: stop what writes to the log; copy {path} and its -wal file aside; \
             `selflearn export --out rescue.jsonl` saves every event that can still be read (or \
             the sqlite3 shell's `.recover` rebuilds more of a damaged file); then ingest the \
             rescue into a new --log-dir and learn again. Events lost to the damage are lost to \
             learning only: nothing else depends on them."
        )
    }
}

/// What [`EventLog::forget`] erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// Events deleted.
    pub events: u64,
    /// Whether the write-ahead log was emptied too (not while a reader held an old snapshot).
    pub wal_truncated: bool,
}

/// What one append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppendSummary {
    /// Events newly stored.
    pub inserted: u64,
    /// Events whose id was already stored; they were not stored again.
    pub duplicates: u64,
}

impl AppendSummary {
    /// Adds another summary's counts to this one.
    pub fn add(&mut self, other: AppendSummary) {
        self.inserted += other.inserted;
        self.duplicates += other.duplicates;
    }
}

/// Order of a full scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// The order events were acknowledged in.
    Arrival,
    /// By user, then time: what session building and the offline learners need.
    UserTime,
}

/// The durable, append-only turn-event log.
#[derive(Debug)]
pub struct EventLog {
    conn: Connection,
    path: PathBuf,
    /// Present when opened for writing.
    writer: Option<Writer>,
}

/// What only the writer holds: the directory lock and what it knows of stored ids.
#[derive(Debug)]
struct Writer {
    _lock: fs_err::File,
    ids: IdSet,
}

/// What the writer keeps in memory of stored ids: the tombstones of deleted ones (as many as
/// deleted events) and its last [`RECENT_IDS`] stored ids; the stored ids themselves are in
/// the `ids` table.
#[derive(Debug, Default)]
struct IdSet {
    keys: (RandomState, RandomState),
    /// Stable digests ([`forgotten_digest`]) of deleted events' ids, as stored in `forgotten`.
    forgotten: FingerprintSet,
    /// The last ids stored, by fingerprint, with their timestamps and body digests.
    recent: RecentIds,
}

/// A set of fingerprints. They are already uniformly random, so hashing them again is wasted
/// work on the ingest path: the table uses their low 64 bits as the hash.
type FingerprintSet = HashSet<u128, BuildFingerprintHasher>;

/// Fingerprints with the timestamp and content digest of what was stored under them.
type FingerprintMap = HashMap<u128, (i64, u64), BuildFingerprintHasher>;

/// The last ids stored, oldest evicted first: a bounded window, whatever the log's size.
#[derive(Debug, Default)]
struct RecentIds {
    by_fingerprint: FingerprintMap,
    order: std::collections::VecDeque<u128>,
}

impl RecentIds {
    fn get(&self, fingerprint: u128) -> Option<(i64, u64)> {
        self.by_fingerprint.get(&fingerprint).copied()
    }

    fn insert(&mut self, fingerprint: u128, stored: (i64, u64)) {
        if self.by_fingerprint.insert(fingerprint, stored).is_none() {
            self.order.push_back(fingerprint);
        }
        while self.order.len() > RECENT_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_fingerprint.remove(&oldest);
            }
        }
    }

    fn remove(&mut self, fingerprint: u128) {
        // Its place in `order` is left; evicting a missing key later is harmless.
        self.by_fingerprint.remove(&fingerprint);
    }
}

/// What the log already holds under an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// An event whose stored body has this digest.
    Body(u64),
    /// A deleted event: nothing of it is left to compare with.
    Forgotten,
}

/// Digest of a stored body: equal bodies, equal events (the body is the event's one
/// serialisation).
fn content_digest(body: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(body)
}

/// The stable digest of an event id kept in the `ids` table, as SQLite's signed integer.
fn id_digest(id: &str) -> i64 {
    twox_hash::XxHash3_64::oneshot(id.as_bytes()) as i64
}

/// Hashes a `u128` fingerprint to its low 64 bits.
#[derive(Debug, Default, Clone, Copy)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is expected; fold anything else in so the hasher stays correct.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, fingerprint: u128) {
        self.0 = fingerprint as u64;
    }
}

type BuildFingerprintHasher = BuildHasherDefault<FingerprintHasher>;

impl IdSet {
    /// A 128-bit fingerprint of an id, keyed per process: two independently keyed SipHash
    /// values, so telling two ids apart needs no 128-bit collision (about 1e-24 at 10^8 ids).
    fn fingerprint(&self, id: &str) -> u128 {
        (u128::from(self.keys.0.hash_one(id)) << 64) | u128::from(self.keys.1.hash_one(id))
    }

    fn is_forgotten(&self, id: &str) -> bool {
        !self.forgotten.is_empty() && self.forgotten.contains(&forgotten_digest(id))
    }
}

/// The digest a deleted event's id leaves behind. Unlike [`IdSet::fingerprint`], whose keys are
/// drawn per process, it is the same in every process, so tombstones survive restarts.
fn forgotten_digest(id: &str) -> u128 {
    twox_hash::XxHash3_128::oneshot(id.as_bytes())
}

impl EventLog {
    /// Opens the log in `dir` for reading and writing, creating the directory and the store if
    /// they do not exist. Only one writer may hold a directory; readers may open it meanwhile.
    pub fn open(dir: &Path, options: &LogOptions) -> Result<Self> {
        fs_err::create_dir_all(dir)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = fs_err::File::create(&lock_path)?;
        if lock.file().try_lock().is_err() {
            return Err(LogError::Locked { path: lock_path });
        }
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| LogError::Store {
            path: path.clone(),
            source,
        })?;
        let mut log = Self {
            conn,
            path,
            writer: None,
        };
        log.configure(options)?;
        let ids = log.load_ids()?;
        log.writer = Some(Writer { _lock: lock, ids });
        Ok(log)
    }

    /// Opens an existing log for reading only, while a writer may be appending.
    pub fn open_read_only(dir: &Path) -> Result<Self> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(LogError::BadFile {
                path,
                reason: "no event log here".into(),
            });
        }
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| LogError::Store {
                path: path.clone(),
                source,
            },
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|source| LogError::Store {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            conn,
            path,
            writer: None,
        })
    }

    fn configure(&self, options: &LogOptions) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.store_err(e))?;
        if version != 0 && version != FORMAT_VERSION && !UPGRADABLE_VERSIONS.contains(&version) {
            return Err(LogError::BadFile {
                path: self.path.clone(),
                reason: format!(
                    "store format {version}; this build reads formats {UPGRADABLE_VERSIONS:?} and {FORMAT_VERSION}"
                ),
            });
        }
        let sync = match options.sync {
            SyncPolicy::Full => "FULL",
            SyncPolicy::Normal => "NORMAL",
        };
        self.conn
            .execute_batch(&format!(
                "PRAGMA page_size = {PAGE_SIZE};
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = {sync};
                 PRAGMA busy_timeout = 10000;
                 PRAGMA cache_size = -65536;
                 PRAGMA wal_autocheckpoint = 4096;
                 PRAGMA secure_delete = ON;
                 {SCHEMA}"
            ))
            .map_err(|e| self.store_err(e))?;
        if UPGRADABLE_VERSIONS.contains(&version) {
            self.index_stored_ids()?;
        }
        self.conn
            .execute_batch(&format!("PRAGMA user_version = {FORMAT_VERSION};"))
            .map_err(|e| self.store_err(e))
    }

    /// Fills the `ids` table from the stored events: the upgrade of a store written before it,
    /// once, in one transaction.
    fn index_stored_ids(&self) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.store_err(e))?;
        {
            let mut read = tx
                .prepare("SELECT ts_ms, event_id, body FROM events")
                .map_err(|e| self.store_err(e))?;
            let mut insert = tx.prepare(IDS_INSERT_SQL).map_err(|e| self.store_err(e))?;
            let mut rows = read.query([]).map_err(|e| self.store_err(e))?;
            while let Some(row) = rows.next().map_err(|e| self.store_err(e))? {
                let ts: i64 = row.get(0).map_err(|e| self.store_err(e))?;
                let id: String = row.get(1).map_err(|e| self.store_err(e))?;
                let body: String = row.get(2).map_err(|e| self.store_err(e))?;
                insert
                    .execute(params![
                        ts,
                        id_digest(&id),
                        content_digest(body.as_bytes()) as i64
                    ])
                    .map_err(|e| self.store_err(e))?;
            }
        }
        tx.commit().map_err(|e| self.store_err(e))
    }

    fn load_ids(&self) -> Result<IdSet> {
        let mut ids = IdSet::default();
        self.for_each_value("SELECT digest FROM forgotten", |digest: [u8; 16]| {
            ids.forgotten.insert(u128::from_be_bytes(digest));
        })?;
        Ok(ids)
    }

    /// Calls `each` with the single column of every row `sql` selects, streaming the rows.
    fn for_each_value<T: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        mut each: impl FnMut(T),
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.store_err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.store_err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.store_err(e))? {
            each(row.get(0).map_err(|e| self.store_err(e))?);
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn store_err(&self, source: rusqlite::Error) -> LogError {
        LogError::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends a batch atomically and durably: either every event is stored (or was already) or
    /// none is. Events are expected to be valid (see [`selflearn_types::validate`]).
    pub fn append(&mut self, events: &[TurnEvent]) -> Result<AppendSummary> {
        let records = events
            .iter()
            .enumerate()
            .map(|(i, e)| Ok((Position::Index(i), e)));
        self.in_transaction(|batch| batch.insert_all(records, &mut |_| {}))
    }

    /// Appends a stream of records in one transaction. The first error (a bad record, a repeated
    /// id) rolls everything back and is returned; nothing of the stream is stored then.
    /// `progress` is called with the number of records written so far, every 4096 records.
    pub fn append_records(
        &mut self,
        records: impl IntoIterator<Item = Result<(Position, TurnEvent)>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<AppendSummary> {
        self.in_transaction(|batch| batch.insert_all(records, progress))
    }

    /// Appends several batches in one transaction (one fsync), each batch checked on its own
    /// for repeated ids: the server's group commit. A batch that re-sends an id with other
    /// content is refused alone (its inner error) and the others are stored; a storage failure
    /// stores none (the outer error).
    pub fn append_group(&mut self, batches: &[&[TurnEvent]]) -> Result<Vec<Result<AppendSummary>>> {
        self.in_transaction(|batch| {
            batches
                .iter()
                .map(|events| {
                    if let Some(conflict) = batch.first_conflict(events)? {
                        return Ok(Err(conflict));
                    }
                    let records = events
                        .iter()
                        .enumerate()
                        .map(|(i, e)| Ok((Position::Index(i), e)));
                    batch.insert_all(records, &mut |_| {}).map(Ok)
                })
                .collect()
        })
    }

    /// The writer's state and a new transaction; refused when the log was opened read-only.
    fn begin_write(&mut self) -> Result<(&mut Writer, rusqlite::Transaction<'_>)> {
        let writer = self.writer.as_mut().ok_or_else(|| LogError::ReadOnly {
            path: self.path.clone(),
        })?;
        let tx = self.conn.transaction().map_err(|source| LogError::Store {
            path: self.path.clone(),
            source,
        })?;
        Ok((writer, tx))
    }

    /// Runs `work` inside one transaction, committing only if it succeeds; any error rolls the
    /// transaction back. The new ids join the in-memory set only after the commit.
    fn in_transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Inserter<'_, '_>) -> Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let store_err = |source| LogError::Store {
            path: path.clone(),
            source,
        };
        let (writer, tx) = self.begin_write()?;
        let (result, added) = {
            let mut inserter = Inserter {
                statement: tx.prepare_cached(INSERT_SQL).map_err(store_err)?,
                block_statement: tx.prepare_cached(BLOCK_SQL).map_err(store_err)?,
                id_insert: tx.prepare_cached(IDS_INSERT_SQL).map_err(store_err)?,
                id_lookup: tx.prepare_cached(IDS_LOOKUP_SQL).map_err(store_err)?,
                block: None,
                path: &path,
                ids: &writer.ids,
                added: FingerprintMap::default(),
                body: Vec::with_capacity(4096),
            };
            let result = work(&mut inserter)?;
            inserter.close_block()?;
            (result, inserter.added)
        };
        tx.commit().map_err(store_err)?;
        for (fingerprint, stored) in added {
            writer.ids.recent.insert(fingerprint, stored);
        }
        Ok(result)
    }

    /// Deletes every event of `user_id` (of one `source` only when given; of every source
    /// otherwise) in one durable transaction, leaving tombstones of their ids so that a resend
    /// is a duplicate. The store runs with `secure_delete`, so the deleted rows are overwritten
    /// with zeros in the database file, and the write-ahead log, which still holds the pages
    /// as they were, is checkpointed and truncated: afterwards no file of the log holds the
    /// user's id or text.
    pub fn forget(&mut self, user_id: &str, source: Option<&str>) -> Result<Erasure> {
        let path = self.path.clone();
        let store_err = |source| LogError::Store {
            path: path.clone(),
            source,
        };
        let (writer, tx) = self.begin_write()?;
        let rows: Vec<(i64, String, i64)> = {
            let mut statement = tx
                .prepare(
                    "SELECT seq, event_id, ts_ms FROM events WHERE user_id = ?1
                     AND (?2 IS NULL OR json_extract(body, '$.source') = ?2)",
                )
                .map_err(store_err)?;
            statement
                .query_map(params![user_id, source], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(store_err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(store_err)?
        };
        let digests: Vec<u128> = rows.iter().map(|(_, id, _)| forgotten_digest(id)).collect();
        {
            let mut delete = tx
                .prepare("DELETE FROM events WHERE seq = ?1")
                .map_err(store_err)?;
            let mut unindex = tx
                .prepare("DELETE FROM ids WHERE ts_ms = ?1 AND id_digest = ?2")
                .map_err(store_err)?;
            let mut tombstone = tx
                .prepare("INSERT OR IGNORE INTO forgotten (digest) VALUES (?1)")
                .map_err(store_err)?;
            for ((seq, id, ts), digest) in rows.iter().zip(&digests) {
                delete.execute([seq]).map_err(store_err)?;
                unindex
                    .execute(params![ts, id_digest(id)])
                    .map_err(store_err)?;
                tombstone
                    .execute([digest.to_be_bytes()])
                    .map_err(store_err)?;
            }
        }
        tx.commit().map_err(store_err)?;
        for (_, id, _) in &rows {
            let fingerprint = writer.ids.fingerprint(id);
            writer.ids.recent.remove(fingerprint);
        }
        writer.ids.forgotten.extend(digests);
        let wal_truncated = self.truncate_wal()?;
        Ok(Erasure {
            events: rows.len() as u64,
            wal_truncated,
        })
    }

    /// Copies the write-ahead log into the database and truncates it to nothing. `false` when
    /// a reader (a `learn` or `export` in progress) still reads an older snapshot: the pages
    /// then stay in the write-ahead log until the next checkpoint after it finishes.
    fn truncate_wal(&self) -> Result<bool> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(|e| self.store_err(e))?;
        Ok(busy == 0)
    }

    /// Checks the whole store: SQLite's page-level `integrity_check`, then that every stored
    /// body still parses and validates as a turn event. Read-only; safe while a writer runs.
    pub fn check(&self) -> Result<CheckReport> {
        let mut problems = Vec::new();
        self.for_each_value("PRAGMA integrity_check(100)", |line: String| {
            if line != "ok" {
                problems.push(format!("store: {line}"));
            }
        })?;
        let mut events = 0;
        let mut stmt = self
            .conn
            .prepare("SELECT seq, body FROM events ORDER BY seq")
            .map_err(|e| self.store_err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.store_err(e))?;
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(error) => {
                    problems.push(format!("reading events stopped: {error}"));
                    break;
                }
            };
            events += 1;
            let seq: i64 = row.get(0).map_err(|e| self.store_err(e))?;
            match row.get::<_, String>(1) {
                Ok(body) => match self.decode(seq, &body) {
                    Ok(event) => {
                        if let Err(error) = selflearn_types::validate(&event) {
                            problems.push(format!("row {seq}: {error}"));
                        }
                    }
                    Err(error) => problems.push(error.to_string()),
                },
                Err(error) => problems.push(format!("row {seq}: {error}")),
            }
        }
        Ok(CheckReport {
            path: self.path.clone(),
            events,
            problems,
        })
    }

    /// Number of stored events.
    pub fn len(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.store_err(e))
    }

    /// Whether the log holds no event.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Events with `from_ms <= timestamp_ms < to_ms`, in time order.
    pub fn time_range(&self, from_ms: i64, to_ms: i64) -> Result<Vec<TurnEvent>> {
        self.collect(
            "SELECT e.seq, e.body FROM blocks b JOIN events e ON e.seq BETWEEN b.first_seq AND b.last_seq
             WHERE b.min_ts < ?2 AND b.max_ts >= ?1 AND e.ts_ms >= ?1 AND e.ts_ms < ?2
             ORDER BY e.ts_ms, e.seq",
            params![from_ms, to_ms],
        )
    }

    /// One user's events with `from_ms <= timestamp_ms < to_ms`, in time order. Cost grows with
    /// the number of events in the window (all users), not with the user's own.
    pub fn user_events(&self, user_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<TurnEvent>> {
        self.collect(
            "SELECT e.seq, e.body FROM blocks b JOIN events e ON e.seq BETWEEN b.first_seq AND b.last_seq
             WHERE b.min_ts < ?3 AND b.max_ts >= ?2 AND e.ts_ms >= ?2 AND e.ts_ms < ?3 AND e.user_id = ?1
             ORDER BY e.ts_ms, e.seq",
            params![user_id, from_ms, to_ms],
        )
    }

    /// Visits every event in `order`, stopping at the first error `visit` returns.
    pub fn scan(
        &self,
        order: ScanOrder,
        mut visit: impl FnMut(TurnEvent) -> Result<()>,
    ) -> Result<()> {
        match order {
            ScanOrder::Arrival => {
                let mut stmt = self
                    .conn
                    .prepare("SELECT seq, body FROM events ORDER BY seq")
                    .map_err(|e| self.store_err(e))?;
                let mut rows = stmt.query([]).map_err(|e| self.store_err(e))?;
                while let Some(row) = rows.next().map_err(|e| self.store_err(e))? {
                    let seq: i64 = row.get(0).map_err(|e| self.store_err(e))?;
                    let body: String = row.get(1).map_err(|e| self.store_err(e))?;
                    visit(self.decode(seq, &body)?)?;
                }
                Ok(())
            }
            ScanOrder::UserTime => {
                for seq in self.user_time_order()? {
                    let body: String = self
                        .conn
                        .prepare_cached("SELECT body FROM events WHERE seq = ?1")
                        .and_then(|mut stmt| stmt.query_row([seq], |r| r.get(0)))
                        .map_err(|e| self.store_err(e))?;
                    visit(self.decode(seq, &body)?)?;
                }
                Ok(())
            }
        }
    }

    /// Visits every event's stored JSON body in (user, time, arrival) order with its user id
    /// and row, without decoding it: for a reader that decodes on other threads
    /// ([`EventLog::decode_body`]).
    pub fn scan_user_bodies(
        &self,
        mut visit: impl FnMut(&str, i64, String) -> Result<()>,
    ) -> Result<()> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT user_id, body FROM events WHERE seq = ?1")
            .map_err(|e| self.store_err(e))?;
        for seq in self.user_time_order()? {
            let (user, body): (String, String) = statement
                .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.store_err(e))?;
            visit(&user, seq, body)?;
        }
        Ok(())
    }

    /// Decodes a body [`EventLog::scan_user_bodies`] gave, naming this log and the row when it
    /// is not a valid event.
    pub fn decode_body(path: &Path, seq: i64, body: &str) -> Result<TurnEvent> {
        serde_json::from_str(body).map_err(|e| LogError::Corrupt {
            path: path.to_path_buf(),
            seq,
            reason: e.to_string(),
        })
    }

    /// Row numbers sorted by (user, time, arrival): the keys are sorted in memory rather than
    /// kept in an index that every commit would have to update at random places.
    fn user_time_order(&self) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT user_id, ts_ms, seq FROM events")
            .map_err(|e| self.store_err(e))?;
        let mut users: HashMap<String, u32> = HashMap::new();
        let mut keys: Vec<(u32, i64, i64)> = Vec::new();
        let mut rows = stmt.query([]).map_err(|e| self.store_err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.store_err(e))? {
            let user: String = row.get(0).map_err(|e| self.store_err(e))?;
            let next = users.len() as u32;
            let user = *users.entry(user).or_insert(next);
            keys.push((
                user,
                row.get(1).map_err(|e| self.store_err(e))?,
                row.get(2).map_err(|e| self.store_err(e))?,
            ));
        }
        // Rank users by their ids so that the order is by user id, not by first appearance.
        let mut names: Vec<(&String, u32)> = users.iter().map(|(name, &id)| (name, id)).collect();
        names.sort();
        let mut rank = vec![0u32; names.len()];
        for (position, (_, id)) in names.iter().enumerate() {
            rank[*id as usize] = position as u32;
        }
        keys.sort_unstable_by_key(|&(user, ts, seq)| (rank[user as usize], ts, seq));
        Ok(keys.into_iter().map(|(_, _, seq)| seq).collect())
    }

    fn collect(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<TurnEvent>> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| self.store_err(e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.store_err(e))?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, body) = row.map_err(|e| self.store_err(e))?;
            events.push(self.decode(seq, &body)?);
        }
        Ok(events)
    }

    fn decode(&self, seq: i64, body: &str) -> Result<TurnEvent> {
        Self::decode_body(&self.path, seq, body)
    }
}

const INSERT_SQL: &str =
    "INSERT INTO events (event_id, user_id, ts_ms, body) VALUES (?1, ?2, ?3, ?4)";
const BLOCK_SQL: &str =
    "INSERT INTO blocks (first_seq, last_seq, min_ts, max_ts) VALUES (?1, ?2, ?3, ?4)";
const IDS_INSERT_SQL: &str =
    "INSERT OR IGNORE INTO ids (ts_ms, id_digest, body_digest) VALUES (?1, ?2, ?3)";
const IDS_LOOKUP_SQL: &str = "SELECT body_digest FROM ids WHERE ts_ms = ?1 AND id_digest = ?2";

/// The block of the time index being filled.
#[derive(Debug, Clone, Copy)]
struct Block {
    first_seq: i64,
    last_seq: i64,
    min_ts: i64,
    max_ts: i64,
    rows: u32,
}

/// Inserts records inside an open transaction, skipping ids already stored.
struct Inserter<'conn, 'log> {
    statement: CachedStatement<'conn>,
    block_statement: CachedStatement<'conn>,
    id_insert: CachedStatement<'conn>,
    id_lookup: CachedStatement<'conn>,
    block: Option<Block>,
    path: &'log Path,
    ids: &'log IdSet,
    /// Fingerprints inserted by this transaction, for the recent ids once it commits.
    added: FingerprintMap,
    /// Reused serialisation buffer: one allocation per transaction, not per event.
    body: Vec<u8>,
}

impl Inserter<'_, '_> {
    fn store_err(&self, source: rusqlite::Error) -> LogError {
        LogError::Store {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// What is stored under `event`'s id (fingerprint `fingerprint`), by this transaction or
    /// before: a tombstone, the same id under the same timestamp in the `ids` table, or the
    /// same id among the recent ones under another timestamp.
    fn stored(&mut self, event: &TurnEvent, fingerprint: u128) -> Result<Option<Stored>> {
        if let Some(stored) = self.stored_in_memory(event, fingerprint) {
            return Ok(Some(stored));
        }
        self.stored_in_index(event)
    }

    /// What memory alone says is stored under `event`'s id: a tombstone, or the id among the
    /// recent ones (or this transaction's) under another timestamp.
    fn stored_in_memory(&self, event: &TurnEvent, fingerprint: u128) -> Option<Stored> {
        if self.ids.is_forgotten(&event.event_id) {
            return Some(Stored::Forgotten);
        }
        let (ts, digest) = self
            .added
            .get(&fingerprint)
            .copied()
            .or_else(|| self.ids.recent.get(fingerprint))?;
        (ts != event.timestamp_ms).then_some(Stored::Body(digest))
    }

    /// The body digest the `ids` table holds under `event`'s timestamp and id, if any.
    fn stored_in_index(&mut self, event: &TurnEvent) -> Result<Option<Stored>> {
        use rusqlite::OptionalExtension;
        let digest: Option<i64> = self
            .id_lookup
            .query_row(
                params![event.timestamp_ms, id_digest(&event.event_id)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.store_err(e))?;
        Ok(digest.map(|d| Stored::Body(d as u64)))
    }

    /// The first event of `events` whose id is stored (or added earlier in this transaction)
    /// with other content; nothing is inserted.
    fn first_conflict(&mut self, events: &[TurnEvent]) -> Result<Option<LogError>> {
        for (i, event) in events.iter().enumerate() {
            let fingerprint = self.ids.fingerprint(&event.event_id);
            let stored = match self.stored(event, fingerprint)? {
                Some(Stored::Body(digest)) => digest,
                Some(Stored::Forgotten) | None => continue,
            };
            self.body.clear();
            serde_json::to_writer(&mut self.body, event).expect("a turn event always serialises");
            if content_digest(&self.body) != stored {
                return Ok(Some(LogError::ConflictingId {
                    position: Position::Index(i),
                    event_id: event.event_id.clone(),
                }));
            }
        }
        Ok(None)
    }

    /// Inserts one batch, refusing an id repeated within it.
    fn insert_all<E: Borrow<TurnEvent>>(
        &mut self,
        records: impl IntoIterator<Item = Result<(Position, E)>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<AppendSummary> {
        let mut summary = AppendSummary::default();
        let mut seen: HashMap<u128, Position, BuildFingerprintHasher> = HashMap::default();
        for record in records {
            let (position, event) = record?;
            let event: &TurnEvent = event.borrow();
            let fingerprint = self.ids.fingerprint(&event.event_id);
            if let Some(&first) = seen.get(&fingerprint) {
                return Err(LogError::DuplicateInBatch {
                    position,
                    first,
                    event_id: event.event_id.clone(),
                });
            }
            seen.insert(fingerprint, position);
            self.body.clear();
            serde_json::to_writer(&mut self.body, event).expect("a turn event always serialises");
            let digest = content_digest(&self.body);
            // A new event is one insert into `ids` (the lookup is the insert's own search);
            // only an id already there is looked up again.
            let stored = if let Some(stored) = self.stored_in_memory(event, fingerprint) {
                Some(stored)
            } else {
                let inserted = self
                    .id_insert
                    .execute(params![
                        event.timestamp_ms,
                        id_digest(&event.event_id),
                        digest as i64
                    ])
                    .map_err(|e| self.store_err(e))?;
                if inserted == 0 {
                    self.stored_in_index(event)?
                } else {
                    None
                }
            };
            if let Some(stored) = stored {
                if stored != Stored::Body(digest) && stored != Stored::Forgotten {
                    return Err(LogError::ConflictingId {
                        position,
                        event_id: event.event_id.clone(),
                    });
                }
                summary.duplicates += 1;
            } else {
                self.added.insert(fingerprint, (event.timestamp_ms, digest));
                let body = std::str::from_utf8(&self.body).expect("serde_json writes UTF-8");
                let seq = self
                    .statement
                    .insert(params![
                        event.event_id,
                        event.user_id,
                        event.timestamp_ms,
                        body
                    ])
                    .map_err(|source| LogError::Store {
                        path: self.path.to_path_buf(),
                        source,
                    })?;
                self.extend_block(seq, event.timestamp_ms)?;
                summary.inserted += 1;
            }
            let done = summary.inserted + summary.duplicates;
            if done % 4096 == 0 {
                progress(done);
            }
        }
        progress(summary.inserted + summary.duplicates);
        Ok(summary)
    }

    /// Records row `seq` at time `ts_ms` in the current block, closing it when full.
    fn extend_block(&mut self, seq: i64, ts_ms: i64) -> Result<()> {
        let block = self.block.get_or_insert(Block {
            first_seq: seq,
            last_seq: seq,
            min_ts: ts_ms,
            max_ts: ts_ms,
            rows: 0,
        });
        block.last_seq = seq;
        block.min_ts = block.min_ts.min(ts_ms);
        block.max_ts = block.max_ts.max(ts_ms);
        block.rows += 1;
        if block.rows >= BLOCK_ROWS {
            self.close_block()?;
        }
        Ok(())
    }

    /// Writes the current block's row, if any rows were inserted since the last one.
    fn close_block(&mut self) -> Result<()> {
        if let Some(block) = self.block.take() {
            self.block_statement
                .execute(params![
                    block.first_seq,
                    block.last_seq,
                    block.min_ts,
                    block.max_ts
                ])
                .map_err(|source| LogError::Store {
                    path: self.path.to_path_buf(),
                    source,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use selflearn_types::testing::{files_bytes, generated_events, holds, sample_event};

    fn open_temp() -> (tempfile::TempDir, EventLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        (dir, log)
    }

    #[test]
    fn appended_events_read_back_unchanged() {
        let (_dir, mut log) = open_temp();
        let events = generated_events(50, 5);
        let summary = log.append(&events).unwrap();
        assert_eq!(
            summary,
            AppendSummary {
                inserted: 50,
                duplicates: 0
            }
        );
        let mut scanned = Vec::new();
        log.scan(ScanOrder::Arrival, |e| {
            scanned.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(scanned, events);
    }

    #[test]
    fn reappending_the_same_ids_stores_them_once() {
        let (_dir, mut log) = open_temp();
        let events = generated_events(20, 3);
        log.append(&events).unwrap();
        let again = log.append(&events).unwrap();
        assert_eq!(
            again,
            AppendSummary {
                inserted: 0,
                duplicates: 20
            }
        );
        assert_eq!(log.len().unwrap(), 20);
    }

    #[test]
    fn a_repeated_id_within_a_batch_refuses_the_whole_batch() {
        let (_dir, mut log) = open_temp();
        let mut events = generated_events(5, 1);
        events[3].event_id = events[1].event_id.clone();
        let err = log.append(&events).unwrap_err();
        assert!(
            matches!(
                err,
                LogError::DuplicateInBatch {
                    position: Position::Index(3),
                    first: Position::Index(1),
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            log.is_empty().unwrap(),
            "nothing of a refused batch is stored"
        );
    }

    #[test]
    fn a_bad_record_mid_stream_stores_nothing_of_the_stream() {
        let (_dir, mut log) = open_temp();
        log.append(&[sample_event()]).unwrap();
        let events = generated_events(10, 2);
        let records = events.into_iter().enumerate().map(|(i, e)| {
            if i == 7 {
                Err(LogError::InvalidRecord {
                    position: Position::Line(8),
                    source: selflearn_types::EventError {
                        field: "user_id".into(),
                        reason: "bad".into(),
                    },
                })
            } else {
                Ok((Position::Line(i + 1), e))
            }
        });
        assert!(log.append_records(records, &mut |_| {}).is_err());
        assert_eq!(
            log.len().unwrap(),
            1,
            "earlier accepted data is kept, the refused stream is not"
        );
    }

    #[test]
    fn reads_by_time_and_by_user_are_ordered_and_bounded() {
        let (_dir, mut log) = open_temp();
        let mut events = generated_events(40, 4);
        events.reverse(); // arrival order differs from time order
        log.append(&events).unwrap();
        let t0 = 1_767_225_600_000;
        let window = log.time_range(t0 + 250 * 10, t0 + 250 * 20).unwrap();
        let mut expected: Vec<TurnEvent> = events.iter().rev().skip(10).take(10).cloned().collect();
        expected.sort_by_key(|e| e.timestamp_ms);
        assert_eq!(window, expected);

        let user = log.user_events("user-00001", i64::MIN, i64::MAX).unwrap();
        assert_eq!(user.len(), 10);
        assert!(user.iter().all(|e| e.user_id == "user-00001"));
        assert!(
            user.windows(2)
                .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms)
        );
    }

    #[test]
    fn time_reads_match_a_brute_force_filter_across_blocks_in_any_order() {
        let (_dir, mut log) = open_temp();
        let mut events = generated_events(3 * BLOCK_ROWS as usize + 77, 7);
        // Scatter the timestamps so that blocks overlap in time and arrival is out of order.
        for (i, event) in events.iter_mut().enumerate() {
            event.timestamp_ms = 1_767_225_600_000 + ((i as i64 * 7919) % 5000) * 1000;
        }
        for batch in events.chunks(500) {
            log.append(batch).unwrap();
        }
        let (from, to) = (1_767_225_600_000 + 1_200_000, 1_767_225_600_000 + 2_500_000);
        let mut expected: Vec<&TurnEvent> = events
            .iter()
            .filter(|e| (from..to).contains(&e.timestamp_ms))
            .collect();
        expected.sort_by_key(|e| e.timestamp_ms); // stable: ties stay in arrival order
        let got = log.time_range(from, to).unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), expected);

        let user = &events[3].user_id;
        let expected_user: Vec<&TurnEvent> = expected
            .iter()
            .copied()
            .filter(|e| &e.user_id == user)
            .collect();
        let got_user = log.user_events(user, from, to).unwrap();
        assert_eq!(got_user.iter().collect::<Vec<_>>(), expected_user);
        assert!(!expected_user.is_empty());
    }

    #[test]
    fn user_time_scan_groups_users_in_time_order() {
        let (_dir, mut log) = open_temp();
        let mut events = generated_events(30, 3);
        events.reverse();
        log.append(&events).unwrap();
        let mut keys = Vec::new();
        log.scan(ScanOrder::UserTime, |e| {
            keys.push((e.user_id, e.timestamp_ms));
            Ok(())
        })
        .unwrap();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 30);
    }

    #[test]
    fn a_group_commit_checks_repeats_per_batch_and_counts_per_batch() {
        let (_dir, mut log) = open_temp();
        let events = generated_events(6, 2);
        // The same event in two batches of one group is a retry, not a repeat within a batch.
        let summaries = log.append_group(&[&events[..4], &events[2..]]).unwrap();
        assert_eq!(
            *summaries[0].as_ref().unwrap(),
            AppendSummary {
                inserted: 4,
                duplicates: 0
            }
        );
        assert_eq!(
            *summaries[1].as_ref().unwrap(),
            AppendSummary {
                inserted: 2,
                duplicates: 2
            }
        );
        assert_eq!(log.len().unwrap(), 6);
    }

    /// A re-sent id is a duplicate when its content is what was stored, and refused when it is
    /// not: in a single append (nothing of the batch stored), in a group (that batch alone),
    /// against the same transaction's earlier batches, and after the log is reopened.
    #[test]
    fn a_resent_id_with_other_content_is_refused_and_a_retry_is_not() {
        let (dir, mut log) = open_temp();
        let events = generated_events(4, 2);
        log.append(&events).unwrap();
        let mut other = events[1].clone();
        other.asr.text.push_str(" please");
        let fresh = generated_events(8, 2)[4..].to_vec();
        let mut batch = fresh.clone();
        batch.push(other.clone());
        let err = log.append(&batch).unwrap_err();
        assert!(
            matches!(&err, LogError::ConflictingId { position: Position::Index(4), event_id } if *event_id == other.event_id),
            "{err}"
        );
        assert!(err.is_input_error());
        assert_eq!(log.len().unwrap(), 4, "nothing of the batch is stored");
        let retry = log.append(&events).unwrap();
        assert_eq!(retry.duplicates, 4);
        // In a group: the conflicting batch alone is refused.
        let mut changed = fresh[0].clone();
        changed.user_id.push('x');
        let group = log
            .append_group(&[
                &fresh[..2],
                std::slice::from_ref(&other),
                std::slice::from_ref(&changed),
                &fresh[2..],
            ])
            .unwrap();
        assert!(group[0].is_ok() && group[3].is_ok());
        assert!(matches!(group[1], Err(LogError::ConflictingId { .. })));
        assert!(
            matches!(group[2], Err(LogError::ConflictingId { .. })),
            "conflicts with a batch earlier in the same transaction"
        );
        assert_eq!(log.len().unwrap(), 8);
        drop(log);
        let mut reopened = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        assert!(matches!(
            reopened.append(&[other]),
            Err(LogError::ConflictingId { .. })
        ));
        assert_eq!(reopened.append(&events).unwrap().duplicates, 4);
    }

    #[test]
    fn an_id_resent_under_another_time_is_refused_while_it_is_recent() {
        let (dir, mut log) = open_temp();
        let events = generated_events(3, 2);
        log.append(&events).unwrap();
        let mut later = events[0].clone();
        later.timestamp_ms += 1;
        assert!(matches!(
            log.append(std::slice::from_ref(&later)),
            Err(LogError::ConflictingId { .. })
        ));
        assert_eq!(log.len().unwrap(), 3);
        drop(log);
        // A reopened writer remembers no recent ids: under its own time the event is still a
        // duplicate, found in the id index, but under another time it is another event.
        let mut reopened = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        assert_eq!(reopened.append(&events).unwrap().duplicates, 3);
        assert_eq!(reopened.append(&[later]).unwrap().inserted, 1);
    }

    #[test]
    fn a_store_of_the_format_before_the_id_index_is_upgraded_and_stays_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let events = generated_events(30, 3);
        EventLog::open(dir.path(), &LogOptions::default())
            .unwrap()
            .append(&events)
            .unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch("DROP TABLE ids; PRAGMA user_version = 4;")
                .unwrap();
        }
        let mut log = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        assert_eq!(log.append(&events).unwrap().duplicates, 30);
        let mut other = events[7].clone();
        other.asr.text.push_str(" please");
        assert!(matches!(
            log.append(&[other]),
            Err(LogError::ConflictingId { .. })
        ));
        let version: i64 = log
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, FORMAT_VERSION);
    }

    #[test]
    fn data_survives_reopening_and_ids_stay_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let events = generated_events(10, 2);
        EventLog::open(dir.path(), &LogOptions::default())
            .unwrap()
            .append(&events)
            .unwrap();
        let mut log = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        let again = log.append(&events[5..]).unwrap();
        assert_eq!(
            again,
            AppendSummary {
                inserted: 0,
                duplicates: 5
            }
        );
        let reader = EventLog::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.time_range(i64::MIN, i64::MAX).unwrap(), events);
    }

    #[test]
    fn a_second_writer_is_refused_but_readers_are_not() {
        let (dir, mut log) = open_temp();
        let err = EventLog::open(dir.path(), &LogOptions::default()).unwrap_err();
        assert!(matches!(err, LogError::Locked { .. }), "{err}");
        log.append(&[sample_event()]).unwrap();
        let mut reader = EventLog::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.len().unwrap(), 1);
        assert!(matches!(
            reader.append(&[sample_event()]),
            Err(LogError::ReadOnly { .. })
        ));
    }

    #[test]
    fn a_rolled_back_batch_leaves_its_ids_free() {
        let (_dir, mut log) = open_temp();
        let mut events = generated_events(4, 1);
        let original = events[3].event_id.clone();
        events[3].event_id = events[0].event_id.clone();
        assert!(log.append(&events).is_err());
        events[3].event_id = original;
        assert_eq!(
            log.append(&events).unwrap().inserted,
            4,
            "ids of the refused batch were not remembered"
        );
    }

    #[test]
    fn forgetting_a_user_deletes_their_events_durably_and_only_theirs_and_a_resend_stores_nothing()
    {
        let (dir, mut log) = open_temp();
        let events = generated_events(40, 4);
        log.append(&events).unwrap();
        let theirs = events.iter().filter(|e| e.user_id == "user-00001").count() as u64;
        assert_eq!(log.forget("user-00001", None).unwrap().events, theirs);
        assert_eq!(log.forget("user-00001", None).unwrap().events, 0);
        let resent = log.append(&events).unwrap();
        assert_eq!((resent.inserted, resent.duplicates), (0, 40));
        drop(log);
        let mut reopened = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        let resent = reopened.append(&events).unwrap();
        assert_eq!(
            (resent.inserted, resent.duplicates),
            (0, 40),
            "tombstones outlive the process"
        );
        drop(reopened);
        let reader = EventLog::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.len().unwrap(), 40 - theirs);
        let indexed: i64 = reader
            .conn
            .query_row("SELECT COUNT(*) FROM ids", [], |r| r.get(0))
            .unwrap();
        assert_eq!(indexed as u64, 40 - theirs, "the id index forgets them too");
        assert!(
            reader
                .user_events("user-00001", i64::MIN, i64::MAX)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            reader
                .user_events("user-00002", i64::MIN, i64::MAX)
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn a_forgotten_users_id_and_words_are_in_no_file_of_the_log() {
        let (dir, mut log) = open_temp();
        let mut events = generated_events(400, 4);
        for event in events.iter_mut().filter(|e| e.user_id == "user-00001") {
            event.user_id = "erase-me-7f3a".into();
            event.asr.text = "unlock the blue shed at dawn".into();
        }
        log.append(&events).unwrap();
        let before = files_bytes(dir.path());
        assert!(holds(&before, "erase-me-7f3a") && holds(&before, "blue shed"));
        let erased = log.forget("erase-me-7f3a", None).unwrap();
        assert_eq!(erased.events, 100);
        assert!(erased.wal_truncated);
        let after = files_bytes(dir.path());
        assert!(
            !holds(&after, "erase-me-7f3a"),
            "the user id is still in the files"
        );
        assert!(
            !holds(&after, "blue shed"),
            "the user's words are still in the files"
        );
        assert!(holds(&after, "user-00002"), "the others are kept");
    }

    #[test]
    fn forgetting_within_one_source_keeps_the_same_user_id_of_another() {
        let (_dir, mut log) = open_temp();
        let mut events = generated_events(40, 1);
        for (i, event) in events.iter_mut().enumerate() {
            event.source = [Some("home-1"), Some("home-2"), None][i % 3].map(str::to_owned);
        }
        log.append(&events).unwrap();
        let count = |source: Option<&str>| {
            events
                .iter()
                .filter(|e| e.source.as_deref() == source)
                .count() as u64
        };
        let erased = log.forget("user-00000", Some("home-1")).unwrap();
        assert_eq!(erased.events, count(Some("home-1")));
        assert_eq!(log.len().unwrap(), 40 - count(Some("home-1")));
        let rest = log.forget("user-00000", None).unwrap();
        assert_eq!(rest.events, count(Some("home-2")) + count(None));
        assert!(log.is_empty().unwrap());
    }

    #[test]
    fn check_passes_a_sound_log_and_names_a_bad_record_and_damaged_pages() {
        let (dir, mut log) = open_temp();
        log.append(&generated_events(600, 6)).unwrap();
        let report = log.check().unwrap();
        assert!(report.problems.is_empty(), "{report}");
        assert_eq!(report.events, 600);
        assert!(report.to_string().contains("sound"), "{report}");
        drop(log);
        let path = dir.path().join(DB_FILE);
        let raw = Connection::open(&path).unwrap();
        raw.execute(
            "UPDATE events SET body = '{\"not\": \"an event\"}' WHERE seq = 7",
            [],
        )
        .unwrap();
        raw.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        drop(raw);
        let report = EventLog::open_read_only(dir.path())
            .unwrap()
            .check()
            .unwrap();
        assert_eq!(report.problems.len(), 1, "{report}");
        assert!(report.problems[0].contains('7'), "{report}");
        assert!(report.to_string().contains("to recover"), "{report}");
        // Garbage over pages in the middle of the file.
        let mut bytes = fs_err::read(&path).unwrap();
        let middle = bytes.len() / 2 / PAGE_SIZE as usize * PAGE_SIZE as usize;
        bytes[middle..middle + 3 * PAGE_SIZE as usize].fill(0xA5);
        fs_err::write(&path, bytes).unwrap();
        let damaged = EventLog::open_read_only(dir.path()).and_then(|log| log.check());
        assert!(
            damaged.as_ref().map_or(true, |r| !r.problems.is_empty()),
            "{damaged:?}"
        );
    }
}
