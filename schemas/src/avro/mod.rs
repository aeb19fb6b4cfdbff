//! Avro single-object encoding of infragraph's records.
//!
//! Every message is `C3 01`, the 8-byte little-endian CRC-64-AVRO
//! fingerprint of the writer schema's parsing canonical form, then the Avro
//! binary body. A reader decodes its own schemas directly; any other known
//! writer schema (registered from the `infragraph.schemas` topic or a file)
//! is resolved to the reader's schema by Avro's resolution rules, so readers
//! and writers can be upgraded independently. See `schemas/README.md`.

mod decode;
mod encode;
pub mod schema;
mod wire;

use std::collections::HashMap;

// The codec's own maps: a handful of fixed entries, looked up several times
// per message, keyed by our own types or by fingerprints; SipHash cost more
// than the lookups themselves.
use rustc_hash::FxHashMap;
use std::sync::RwLock;

pub use wire::{HEADER_LEN, MAGIC, rabin_fingerprint};

use crate::records::{GraphChange, Observation, SyncMarker};
use crate::registry::{ResourceDef, ResourceKind, UnknownName};

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("message is {len} bytes, shorter than the {HEADER_LEN}-byte single-object header")]
    TooShort { len: usize },
    #[error("bad magic bytes {found:02x?}: not an Avro single-object message (expected [c3, 01])")]
    BadMagic { found: [u8; 2] },
    #[error(
        "unknown writer schema fingerprint {0:016x}: register it from the infragraph.schemas topic"
    )]
    UnknownFingerprint(u64),
    #[error("expected {expected}, found a {found} message")]
    WrongRecord {
        expected: &'static str,
        found: String,
    },
    #[error("message truncated while reading {field}")]
    Truncated { field: &'static str },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Unknown(#[from] UnknownName),
    #[error("{extra} bytes left over after the record")]
    TrailingBytes { extra: usize },
    #[error("cannot resolve writer schema {fingerprint:016x} to the reader's: {reason}")]
    Resolution { fingerprint: u64, reason: String },
    #[error("cannot encode property or relationship {field}: {reason}")]
    Encode { field: String, reason: String },
    #[error("invalid schema: {0}")]
    Schema(String),
}

impl CodecError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CodecError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Which record a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Observation(ResourceKind),
    SyncMarker,
    GraphChange,
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordKind::Observation(k) => write!(f, "{} observation", k.label()),
            RecordKind::SyncMarker => f.write_str("SyncMarker"),
            RecordKind::GraphChange => f.write_str("GraphChange"),
        }
    }
}

/// A decoded message of any record family.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Observation(Observation),
    SyncMarker(SyncMarker),
    GraphChange(GraphChange),
}

/// The longest string, bytes or array a message from a foreign writer schema
/// may hold. Kafka's default message limit is 1 MB, so nothing legitimate is
/// longer; a lie about a length could otherwise reserve gigabytes.
pub const MAX_RESOLVED_LENGTH: usize = 1 << 20;

/// One of the reader's own schemas.
struct Own {
    kind: RecordKind,
    fingerprint: u64,
    json: String,
    parsed: apache_avro::Schema,
}

/// Encodes with the reader's own schemas; decodes those and any registered
/// writer schema. Cheap to share: decoding takes `&self`.
pub struct Codec {
    defs: FxHashMap<ResourceKind, &'static ResourceDef>,
    /// Per resource type, its property indexes in name order: the encoder
    /// walks them beside an observation's (name-sorted) properties, and the
    /// decoder hands properties over in that order.
    name_order: FxHashMap<ResourceKind, Vec<usize>>,
    own: FxHashMap<RecordKind, Own>,
    by_fingerprint: FxHashMap<u64, RecordKind>,
    foreign: RwLock<HashMap<u64, (RecordKind, apache_avro::Schema)>>,
    /// The last observation's encoded length: the next buffer starts that
    /// big (plus a quarter), so it rarely grows and copies while encoding.
    observation_hint: std::sync::atomic::AtomicUsize,
}

fn parse(json: &str) -> Result<apache_avro::Schema, CodecError> {
    apache_avro::Schema::parse_str(json).map_err(|e| CodecError::Schema(e.to_string()))
}

fn fingerprint(schema: &apache_avro::Schema) -> u64 {
    rabin_fingerprint(schema.canonical_form().as_bytes())
}

impl Codec {
    /// A codec for every resource type in the registry.
    // Our own generated schemas always parse; the registry tests prove it.
    #[allow(clippy::expect_used)]
    pub fn builtin() -> Self {
        Codec::new(ResourceKind::ALL.iter().map(|k| k.def()))
            .expect("registry schemas are valid Avro")
    }

    /// A codec whose reader schemas come from `defs` (tests use this to act
    /// as an older or newer reader).
    pub fn new(defs: impl IntoIterator<Item = &'static ResourceDef>) -> Result<Self, CodecError> {
        // apache-avro reserves memory for whatever length a message claims;
        // cap it. Process-wide and first-set-wins, which is what we want.
        apache_avro::util::max_allocation_bytes(MAX_RESOLVED_LENGTH);
        let mut codec = Codec {
            defs: FxHashMap::default(),
            name_order: FxHashMap::default(),
            own: FxHashMap::default(),
            by_fingerprint: FxHashMap::default(),
            foreign: RwLock::new(HashMap::new()),
            observation_hint: std::sync::atomic::AtomicUsize::new(256),
        };
        for def in defs {
            codec.defs.insert(def.kind, def);
            let mut order: Vec<usize> = (0..def.properties.len()).collect();
            order.sort_by_key(|&i| def.properties[i].name);
            codec.name_order.insert(def.kind, order);
            codec.add_own(RecordKind::Observation(def.kind), schema::observation(def))?;
        }
        codec.add_own(RecordKind::SyncMarker, schema::sync_marker())?;
        codec.add_own(RecordKind::GraphChange, schema::graph_change())?;
        Ok(codec)
    }

    fn add_own(&mut self, kind: RecordKind, json: serde_json::Value) -> Result<(), CodecError> {
        let json =
            serde_json::to_string_pretty(&json).map_err(|e| CodecError::Schema(e.to_string()))?;
        let parsed = parse(&json)?;
        let fingerprint = fingerprint(&parsed);
        self.by_fingerprint.insert(fingerprint, kind);
        self.own.insert(
            kind,
            Own {
                kind,
                fingerprint,
                json,
                parsed,
            },
        );
        Ok(())
    }

    /// The reader's own schemas as `(kind, fingerprint, JSON)`, for
    /// publishing to the schemas topic and writing `.avsc` files.
    pub fn schemas(&self) -> impl Iterator<Item = (RecordKind, u64, &str)> {
        self.own
            .values()
            .map(|o| (o.kind, o.fingerprint, o.json.as_str()))
    }

    /// Whether messages written with schema `fingerprint` can be decoded.
    pub fn knows(&self, fingerprint: u64) -> bool {
        self.by_fingerprint.contains_key(&fingerprint)
            || self
                .foreign
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&fingerprint)
    }

    pub fn fingerprint(&self, kind: RecordKind) -> Option<u64> {
        self.own.get(&kind).map(|o| o.fingerprint)
    }

    /// Makes messages written with `schema_json` decodable. Returns its
    /// fingerprint. The schema must describe a record this reader knows.
    pub fn register(&self, schema_json: &str) -> Result<u64, CodecError> {
        let writer = parse(schema_json)?;
        let fp = fingerprint(&writer);
        if self.by_fingerprint.contains_key(&fp) {
            return Ok(fp);
        }
        let kind = self.kind_of(&writer)?;
        let mut foreign = self.foreign.write().unwrap_or_else(|e| e.into_inner());
        foreign.insert(fp, (kind, writer));
        Ok(fp)
    }

    fn kind_of(&self, schema: &apache_avro::Schema) -> Result<RecordKind, CodecError> {
        let name = schema.name().map(|n| n.fullname(None)).unwrap_or_default();
        let kind = match name.as_str() {
            schema::SYNC_MARKER_NAME => RecordKind::SyncMarker,
            schema::GRAPH_CHANGE_NAME => RecordKind::GraphChange,
            other => {
                let label = other
                    .strip_prefix(schema::OBSERVATION_NAMESPACE)
                    .and_then(|l| l.strip_prefix('.'))
                    .ok_or_else(|| {
                        CodecError::Schema(format!("{other:?} is not an infragraph record"))
                    })?;
                RecordKind::Observation(ResourceKind::from_label(label)?)
            }
        };
        if self.own.contains_key(&kind) {
            Ok(kind)
        } else {
            Err(CodecError::Schema(format!(
                "this reader has no {kind} schema"
            )))
        }
    }

    fn frame(&self, kind: RecordKind, body_hint: usize) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::with_capacity(HEADER_LEN + body_hint);
        self.put_header(kind, &mut buf)?;
        Ok(buf)
    }

    /// The single-object header: magic, then `kind`'s fingerprint.
    fn put_header(&self, kind: RecordKind, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        let fp = self
            .fingerprint(kind)
            .ok_or_else(|| CodecError::Schema(format!("this codec has no {kind} schema")))?;
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&fp.to_le_bytes());
        Ok(())
    }

    pub fn encode_observation(&self, obs: &Observation) -> Result<Vec<u8>, CodecError> {
        let def = self
            .defs
            .get(&obs.kind)
            .ok_or_else(|| CodecError::Schema(format!("this codec has no {} schema", obs.kind)))?;
        let hint = self
            .observation_hint
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut buf = self.frame(RecordKind::Observation(obs.kind), hint + hint / 4)?;
        let order = self
            .name_order
            .get(&obs.kind)
            .map_or(&[][..], Vec::as_slice);
        encode::observation(&mut buf, obs, def, order)?;
        self.observation_hint
            .store(buf.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(buf)
    }

    pub fn encode_sync_marker(&self, marker: &SyncMarker) -> Result<Vec<u8>, CodecError> {
        let mut buf = self.frame(RecordKind::SyncMarker, 128)?;
        encode::sync_marker(&mut buf, marker);
        Ok(buf)
    }

    pub fn encode_graph_change(&self, change: &GraphChange) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::new();
        self.encode_graph_change_into(change, &mut buf)?;
        Ok(buf)
    }

    /// Encodes into `buf`, replacing what it held: a stage that sends every
    /// change right away reuses one buffer instead of allocating each time.
    pub fn encode_graph_change_into(
        &self,
        change: &GraphChange,
        buf: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        buf.clear();
        self.put_header(RecordKind::GraphChange, buf)?;
        encode::graph_change(buf, change);
        Ok(())
    }

    /// The writer fingerprint in a message's header.
    pub fn header(message: &[u8]) -> Result<u64, CodecError> {
        if message.len() < HEADER_LEN {
            return Err(CodecError::TooShort { len: message.len() });
        }
        if message[..2] != MAGIC {
            return Err(CodecError::BadMagic {
                found: [message[0], message[1]],
            });
        }
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&message[2..HEADER_LEN]);
        Ok(u64::from_le_bytes(fp))
    }

    /// Decodes any message this reader knows the writer schema of.
    pub fn decode(&self, message: &[u8]) -> Result<Decoded, CodecError> {
        let fp = Self::header(message)?;
        let body = &message[HEADER_LEN..];
        if let Some(kind) = self.by_fingerprint.get(&fp) {
            return self.decode_body(*kind, body);
        }
        let resolved = {
            let foreign = self.foreign.read().unwrap_or_else(|e| e.into_inner());
            let (kind, writer) = foreign.get(&fp).ok_or(CodecError::UnknownFingerprint(fp))?;
            let reader = &self.own[kind].parsed;
            (*kind, resolve(fp, writer, reader, body)?)
        };
        self.decode_body(resolved.0, &resolved.1)
    }

    fn decode_body(&self, kind: RecordKind, body: &[u8]) -> Result<Decoded, CodecError> {
        let mut r = wire::Reader::new(body);
        let decoded = match kind {
            RecordKind::Observation(k) => {
                let order = self.name_order.get(&k).map_or(&[][..], Vec::as_slice);
                Decoded::Observation(decode::observation(&mut r, self.defs[&k], order)?)
            }
            RecordKind::SyncMarker => Decoded::SyncMarker(decode::sync_marker(&mut r)?),
            RecordKind::GraphChange => Decoded::GraphChange(decode::graph_change(&mut r)?),
        };
        match r.remaining() {
            0 => Ok(decoded),
            extra => Err(CodecError::TrailingBytes { extra }),
        }
    }

    pub fn decode_observation(&self, message: &[u8]) -> Result<Observation, CodecError> {
        match self.decode(message)? {
            Decoded::Observation(o) => Ok(o),
            other => Err(wrong("an Observation", &other)),
        }
    }

    pub fn decode_sync_marker(&self, message: &[u8]) -> Result<SyncMarker, CodecError> {
        match self.decode(message)? {
            Decoded::SyncMarker(m) => Ok(m),
            other => Err(wrong("a SyncMarker", &other)),
        }
    }

    pub fn decode_graph_change(&self, message: &[u8]) -> Result<GraphChange, CodecError> {
        match self.decode(message)? {
            Decoded::GraphChange(c) => Ok(c),
            other => Err(wrong("a GraphChange", &other)),
        }
    }
}

fn wrong(expected: &'static str, found: &Decoded) -> CodecError {
    let found = match found {
        Decoded::Observation(o) => format!("{} observation", o.kind.label()),
        Decoded::SyncMarker(_) => "SyncMarker".to_owned(),
        Decoded::GraphChange(_) => "GraphChange".to_owned(),
    };
    CodecError::WrongRecord { expected, found }
}

/// Avro schema resolution, writer to reader, re-encoded with the reader's
/// schema so one decoder serves every writer version.
fn resolve(
    fp: u64,
    writer: &apache_avro::Schema,
    reader: &apache_avro::Schema,
    body: &[u8],
) -> Result<Vec<u8>, CodecError> {
    let err = |e: apache_avro::Error| CodecError::Resolution {
        fingerprint: fp,
        reason: e.to_string(),
    };
    let mut rest = body;
    let value = apache_avro::from_avro_datum(writer, &mut rest, Some(reader)).map_err(err)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes { extra: rest.len() });
    }
    apache_avro::to_avro_datum(reader, value).map_err(err)
}
