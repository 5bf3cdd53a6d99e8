//! TensorBoard event files: TFRecord framing around hand-encoded `tensorboard.Event` protobufs.
//!
//! Only the messages we write are encoded (field numbers from TensorBoard's
//! `tensorboard/compat/proto/event.proto` and `summary.proto`):
//!
//! ```text
//! Event      { double wall_time = 1; int64 step = 2;
//!              oneof what { string file_version = 3; Summary summary = 5; SessionLog session_log = 7; } }
//! Summary    { repeated Value value = 1; }
//! Value      { string tag = 1; oneof value { float simple_value = 2; Image image = 4; } }
//! Image      { int32 height = 1; int32 width = 2; int32 colorspace = 3; /* 3 = RGB */
//!              bytes encoded_image_string = 4; /* PNG */ }
//! SessionLog { SessionStatus status = 1; /* START = 1 */ }
//! ```

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::image::Image;
use super::{BufferedFile, LogError, wall_time_now};

/// The version record every event file starts with.
const FILE_VERSION: &str = "brain.Event:2";
/// Process-wide counter that makes event file names unique (the last name component).
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);
/// How many taken names `create` skips before giving up.
const MAX_NAME_ATTEMPTS: u32 = 1000;

/// Writes one TensorBoard event file (`events.out.tfevents.*`) in a run directory.
pub struct EventWriter {
    pub(super) file: BufferedFile,
}

impl EventWriter {
    /// Creates `dir` if missing and a new event file in it, named by [`file_name`]. Names sort
    /// in creation order, as TensorBoard reads them: a new file's time is after every existing
    /// event file's in `dir`, even if the clock went back. Never reuses, overwrites or follows
    /// a link at an existing name. The file-version record is written and flushed at once.
    pub fn create(dir: &Path) -> Result<Self, LogError> {
        fs::create_dir_all(dir).map_err(|source| LogError::CreateDir { path: dir.to_path_buf(), source })?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let (path, file) = create_unique(dir, now, &hostname(), std::process::id(), &FILE_COUNTER)?;
        let mut writer = Self { file: BufferedFile::new(path, file) };
        writer.write_event(&encode_event(wall_time_now(), 0, What::FileVersion(FILE_VERSION)))?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Appends a scalar summary; `value` is stored as an `f32` `simple_value`, as TensorBoard
    /// stores scalars. Flushes if the last flush is more than ~2 s ago.
    pub fn add_scalar(&mut self, tag: &str, step: u64, value: f64, wall_time: f64) -> Result<(), LogError> {
        let event = encode_event(wall_time, step, What::Scalar { tag, value: value as f32 });
        self.write_event(&event)
    }

    /// Appends an image summary: `image`'s PNG with its size, as RGB (TensorBoard's Images
    /// tab shows it at `tag`). Flushes if the last flush is more than ~2 s ago.
    pub fn add_image(&mut self, tag: &str, step: u64, image: &Image, wall_time: f64) -> Result<(), LogError> {
        self.write_event(&encode_event(wall_time, step, What::Image { tag, image }))
    }

    /// Appends `Event{step, session_log: {status: START}}`: on reading it, TensorBoard drops
    /// the points at `step` and later that came before it (use it when resuming).
    pub fn add_session_start(&mut self, step: u64, wall_time: f64) -> Result<(), LogError> {
        self.write_event(&encode_event(wall_time, step, What::SessionStart))
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.file.flush()
    }

    fn write_event(&mut self, data: &[u8]) -> Result<(), LogError> {
        self.file.write(&frame_record(data))
    }
}

/// The prefix of every event file name (TensorBoard finds event files by `tfevents`).
const PREFIX: &str = "events.out.tfevents.";

/// `events.out.tfevents.<secs>.<nanos>.<host>.<pid>.<n>`: the creation time as 10-digit Unix
/// seconds and 9-digit nanoseconds, then the host, the 10-digit pid and a 6-digit counter, so
/// that names sort by creation time (fixed widths: text order is number order).
pub fn file_name(time: Duration, host: &str, pid: u32, n: u64) -> String {
    format!("{PREFIX}{:010}.{:09}.{host}.{pid:010}.{n:06}", time.as_secs(), time.subsec_nanos())
}

/// The creation time an event file's name records: `<secs>.<nanos>` of [`file_name`]; for
/// other names with seconds only (`<secs>.<host>…`, as older versions and PyTorch write), the
/// last nanosecond of that second, so that a name made after it with [`file_name`] sorts after.
fn recorded_time(name: &str) -> Option<Duration> {
    let mut parts = name.strip_prefix(PREFIX)?.split('.');
    let secs: u64 = parts.next().filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()?;
    let nanos = match parts.next() {
        Some(n) if n.len() == 9 && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok()?,
        _ => 999_999_999,
    };
    Some(Duration::new(secs, nanos))
}

/// The time for a new event file in `dir`: `now`, or just after the newest recorded time of
/// the event files already there if that is not earlier.
fn creation_time(dir: &Path, now: Duration) -> Duration {
    let newest =
        fs::read_dir(dir).into_iter().flatten().filter_map(|e| recorded_time(e.ok()?.file_name().to_str()?)).max();
    match newest {
        Some(t) if t >= now => t + Duration::from_nanos(1),
        _ => now,
    }
}

/// Creates a new event file in `dir` with `create_new` (a link there is never followed),
/// named for the time after `now` and every existing event file, taking the next `n` from
/// `counter` while the name is taken.
fn create_unique(
    dir: &Path,
    now: Duration,
    host: &str,
    pid: u32,
    counter: &AtomicU64,
) -> Result<(PathBuf, File), LogError> {
    let mut attempts = 0;
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(file_name(creation_time(dir, now), host, pid, n));
        match crate::safe_fs::create_new(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < MAX_NAME_ATTEMPTS => {
                attempts += 1;
            }
            Err(source) => return Err(LogError::Open { path, source }),
        }
    }
}

/// The host name with every character but ASCII letters, digits, `-` and `_` (dots too) made `_`.
fn hostname() -> String {
    let name: String = gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if name.is_empty() { "localhost".to_owned() } else { name }
}

/// TFRecord masked CRC-32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    // ((crc >> 15) | (crc << 17)) + 0xa282ead8, wrapping.
    crc32c::crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord: `u64 len`, `u32 masked_crc(len)`, data, `u32 masked_crc(data)`, all LE.
fn frame_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut record = Vec::with_capacity(data.len() + 16);
    record.extend_from_slice(&len);
    record.extend_from_slice(&masked_crc(&len).to_le_bytes());
    record.extend_from_slice(data);
    record.extend_from_slice(&masked_crc(data).to_le_bytes());
    record
}

/// The `what` oneof of an `Event`, for the kinds we write.
enum What<'a> {
    FileVersion(&'a str),
    Scalar { tag: &'a str, value: f32 },
    Image { tag: &'a str, image: &'a Image },
    SessionStart,
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;
const SESSION_STATUS_START: u64 = 1;
/// `Summary.Image.colorspace` of RGB images.
const COLORSPACE_RGB: u64 = 3;

/// Encodes an `Event` as proto3 does: `wall_time` and `step` are left out when zero.
fn encode_event(wall_time: f64, step: u64, what: What<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    if wall_time.to_bits() != 0 {
        put_key(&mut buf, 1, WIRE_FIXED64);
        buf.extend_from_slice(&wall_time.to_le_bytes());
    }
    if step != 0 {
        // int64 on the wire: a u64 varint of the same bits.
        put_key(&mut buf, 2, WIRE_VARINT);
        put_varint(&mut buf, step);
    }
    match what {
        What::FileVersion(version) => put_len(&mut buf, 3, version.as_bytes()),
        What::Scalar { tag, value } => {
            let mut v = Vec::new();
            put_len(&mut v, 1, tag.as_bytes());
            // In a oneof, so written even when 0.0.
            put_key(&mut v, 2, WIRE_FIXED32);
            v.extend_from_slice(&value.to_le_bytes());
            put_summary(&mut buf, &v);
        }
        What::Image { tag, image } => {
            let mut v = Vec::new();
            put_len(&mut v, 1, tag.as_bytes());
            put_len(&mut v, 4, &encode_image(image));
            put_summary(&mut buf, &v);
        }
        What::SessionStart => {
            let mut log = Vec::new();
            put_key(&mut log, 1, WIRE_VARINT);
            put_varint(&mut log, SESSION_STATUS_START);
            put_len(&mut buf, 7, &log);
        }
    }
    buf
}

/// Appends `summary = 5` holding one `Value` (encoded as `value`) to an `Event`.
fn put_summary(buf: &mut Vec<u8>, value: &[u8]) {
    let mut summary = Vec::new();
    put_len(&mut summary, 1, value);
    put_len(buf, 5, &summary);
}

/// A `Summary.Image`: height, width (int32 varints, left out when zero as in proto3), RGB, the
/// PNG bytes.
fn encode_image(image: &Image) -> Vec<u8> {
    let mut m = Vec::with_capacity(image.png.len() + 16);
    for (field, v) in [(1, u64::from(image.height)), (2, u64::from(image.width)), (3, COLORSPACE_RGB)] {
        if v != 0 {
            put_key(&mut m, field, WIRE_VARINT);
            put_varint(&mut m, v);
        }
    }
    put_len(&mut m, 4, &image.png);
    m
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn put_len(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, WIRE_LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded protobuf field value.
    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        Varint(u64),
        Fixed64([u8; 8]),
        Len(Vec<u8>),
        Fixed32([u8; 4]),
    }

    fn read_varint(bytes: &[u8], pos: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = bytes[*pos];
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    /// Parses a whole message into (field number, value) pairs, in order.
    fn parse(bytes: &[u8]) -> Vec<(u32, Field)> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < bytes.len() {
            let key = read_varint(bytes, &mut pos);
            let field = match key & 7 {
                0 => Field::Varint(read_varint(bytes, &mut pos)),
                1 => {
                    pos += 8;
                    Field::Fixed64(bytes[pos - 8..pos].try_into().unwrap())
                }
                2 => {
                    let len = read_varint(bytes, &mut pos) as usize;
                    pos += len;
                    Field::Len(bytes[pos - len..pos].to_vec())
                }
                5 => {
                    pos += 4;
                    Field::Fixed32(bytes[pos - 4..pos].try_into().unwrap())
                }
                w => panic!("unexpected wire type {w}"),
            };
            out.push(((key >> 3) as u32, field));
        }
        out
    }

    fn len_field(fields: &[(u32, Field)], number: u32) -> Vec<u8> {
        match fields.iter().find(|(n, _)| *n == number) {
            Some((_, Field::Len(b))) => b.clone(),
            other => panic!("field {number}: {other:?}"),
        }
    }

    /// Splits a file into its records' data, checking both CRCs of each.
    fn read_records(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut records = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let len_bytes = &rest[..8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            assert_eq!(rest[8..12], masked_crc(len_bytes).to_le_bytes());
            let data = &rest[12..12 + len];
            assert_eq!(rest[12 + len..16 + len], masked_crc(data).to_le_bytes());
            records.push(data.to_vec());
            rest = &rest[16 + len..];
        }
        records
    }

    #[test]
    fn golden_length_crc() {
        assert_eq!(masked_crc(&24u64.to_le_bytes()), 0x224b_7fa3);
    }

    /// TensorBoard's own golden record (rustboard `tf_record.rs` doc tests): the file-version
    /// event with wall_time 1599759586.0 (2020-09-10T17:39:46Z).
    #[test]
    fn golden_file_version_record() {
        let data = encode_event(1_599_759_586.0, 0, What::FileVersion(FILE_VERSION));
        assert_eq!(data, b"\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0dbrain.Event:2");
        assert_eq!(masked_crc(&data), 0xab36_4b12);
        let record = frame_record(&data);
        assert_eq!(record[..12], *b"\x18\0\0\0\0\0\0\0\xa3\x7f\x4b\x22");
        assert_eq!(record[record.len() - 4..], *b"\x12\x4b\x36\xab");
    }

    #[test]
    fn zero_wall_time_is_left_out_as_in_proto3() {
        let data = encode_event(0.0, 0, What::FileVersion(FILE_VERSION));
        assert_eq!(data, b"\x1a\x0dbrain.Event:2");
    }

    #[test]
    fn scalar_event_round_trips() {
        let data = encode_event(1.7e9 + 0.25, 300_000, What::Scalar { tag: "train/loss", value: 0.123_f64 as f32 });
        let event = parse(&data);
        assert_eq!(event[0], (1, Field::Fixed64((1.7e9 + 0.25_f64).to_le_bytes())));
        assert_eq!(event[1], (2, Field::Varint(300_000)));
        let summary = parse(&len_field(&event, 5));
        assert_eq!(summary.len(), 1);
        let value = parse(&len_field(&summary, 1));
        assert_eq!(len_field(&value, 1), b"train/loss");
        assert_eq!(value[1], (2, Field::Fixed32((0.123_f64 as f32).to_le_bytes())));
    }

    #[test]
    fn zero_scalar_is_still_written() {
        let data = encode_event(1.0, 0, What::Scalar { tag: "t", value: 0.0 });
        let value = parse(&len_field(&parse(&len_field(&parse(&data), 5)), 1));
        assert_eq!(value[1], (2, Field::Fixed32([0; 4])));
    }

    #[test]
    fn image_event_bytes() {
        let image = Image { width: 300, height: 2, png: b"PNGDATA".to_vec() };
        let data = encode_event(0.0, 5, What::Image { tag: "val/cm", image: &image });
        #[rustfmt::skip]
        let value: &[u8] = &[
            0x0a, 6, b'v', b'a', b'l', b'/', b'c', b'm',          // tag = 1
            0x22, 16,                                            // image = 4, 16 bytes:
            0x08, 2,                                             //   height = 1: 2
            0x10, 0xac, 0x02,                                    //   width = 2: 300 (varint)
            0x18, 3,                                             //   colorspace = 3: RGB
            0x22, 7, b'P', b'N', b'G', b'D', b'A', b'T', b'A',  //   encoded_image_string = 4
        ];
        let mut expected = vec![0x10, 5, 0x2a, value.len() as u8 + 2, 0x0a, value.len() as u8];
        expected.extend_from_slice(value);
        assert_eq!(data, expected);
        let parsed = parse(&len_field(&parse(&len_field(&parse(&data), 5)), 1));
        let fields = parse(&len_field(&parsed, 4));
        assert_eq!(fields[..3], [(1, Field::Varint(2)), (2, Field::Varint(300)), (3, Field::Varint(3))]);
        assert_eq!(len_field(&fields, 4), b"PNGDATA");
    }

    #[test]
    fn session_start_event() {
        let event = parse(&encode_event(2.0, 70, What::SessionStart));
        assert_eq!(event[1], (2, Field::Varint(70)));
        assert_eq!(parse(&len_field(&event, 7)), vec![(1, Field::Varint(1))]);
    }

    #[test]
    fn writer_output_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.add_scalar("a", 1, 2.5, 10.0).unwrap();
        w.add_session_start(1, 11.0).unwrap();
        let image = Image { width: 1, height: 1, png: vec![1, 2, 3] };
        w.add_image("m", 2, &image, 12.0).unwrap();
        w.flush().unwrap();
        let records = read_records(&fs::read(w.path()).unwrap());
        assert_eq!(records.len(), 4);
        assert_eq!(len_field(&parse(&records[0]), 3), FILE_VERSION.as_bytes());
        assert_eq!(records[1], encode_event(10.0, 1, What::Scalar { tag: "a", value: 2.5 }));
        assert_eq!(records[2], encode_event(11.0, 1, What::SessionStart));
        assert_eq!(records[3], encode_event(12.0, 2, What::Image { tag: "m", image: &image }));
    }

    #[test]
    fn drop_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        let path = w.path().to_path_buf();
        let before = fs::metadata(&path).unwrap().len();
        w.add_scalar("a", 1, 2.5, 10.0).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), before, "buffered until flush");
        drop(w);
        assert_eq!(read_records(&fs::read(&path).unwrap()).len(), 2);
    }

    #[test]
    fn writers_in_the_same_second_get_different_files() {
        let dir = tempfile::tempdir().unwrap();
        let name = |w: &EventWriter| w.path().file_name().unwrap().to_str().unwrap().to_owned();
        let secs = |w: &EventWriter| name(w).split('.').nth(3).unwrap().to_owned();
        let (a, b) = loop {
            let a = EventWriter::create(dir.path()).unwrap();
            let b = EventWriter::create(dir.path()).unwrap();
            if secs(&a) == secs(&b) {
                break (a, b);
            }
        };
        assert_ne!(a.path(), b.path());
        assert!(name(&a) < name(&b), "names sort in creation order");
        for w in [&a, &b] {
            assert_eq!(read_records(&fs::read(w.path()).unwrap()).len(), 1);
        }
    }

    #[test]
    fn names_sort_by_time_whatever_the_pid() {
        let t = Duration::new(1_700_000_000, 5);
        let short = file_name(t, "h", 99, 0);
        let long = file_name(t + Duration::from_nanos(1), "h", 4_194_304, 0);
        assert_eq!(short, "events.out.tfevents.1700000000.000000005.h.0000000099.000000");
        assert!(short < long, "{short} < {long}");
        assert!(file_name(t, "h", 4_194_304, 0) < file_name(Duration::new(1_700_000_001, 0), "h", 7, 0));
        assert_eq!(recorded_time(&short), Some(t));
        assert_eq!(
            recorded_time("events.out.tfevents.1700000000.zz.123.0"),
            Some(Duration::new(1_700_000_000, 999_999_999))
        );
        assert_eq!(recorded_time("metrics.jsonl"), None);
    }

    #[test]
    fn a_later_file_sorts_after_existing_ones_even_if_the_clock_is_behind() {
        let dir = tempfile::tempdir().unwrap();
        let counter = AtomicU64::new(0);
        let t = Duration::new(1_700_000_000, 500);
        // A killed run's file: an old-style name in the same second with a long pid.
        let old = "events.out.tfevents.1700000000.zzzz.4194304.000000";
        fs::write(dir.path().join(old), b"keep").unwrap();
        let (first, _) = create_unique(dir.path(), t, "aaa", 12, &counter).unwrap();
        let (second, _) = create_unique(dir.path(), t - Duration::from_secs(5), "aaa", 1, &counter).unwrap();
        let (third, _) = create_unique(dir.path(), t, "aaa", 99_999, &counter).unwrap();
        let names: Vec<String> =
            [&first, &second, &third].iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_owned()).collect();
        assert!(old < names[0].as_str() && names[0] < names[1] && names[1] < names[2], "{old} {names:?}");
        let mut listed: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        listed.sort();
        assert_eq!(listed, [old.to_owned(), names[0].clone(), names[1].clone(), names[2].clone()]);
        assert_eq!(fs::read(dir.path().join(old)).unwrap(), b"keep");
    }

    #[cfg(unix)]
    #[test]
    fn taken_names_are_skipped_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let t = Duration::new(42, 0);
        // A dangling link planted under the very name the clock gives.
        let taken = dir.path().join(file_name(t, "h", 7, 0));
        std::os::unix::fs::symlink(dir.path().join("target"), &taken).unwrap();
        let counter = AtomicU64::new(0);
        let (path, _) = create_unique(dir.path(), t, "h", 7, &counter).unwrap();
        assert!(path > taken, "{path:?}");
        assert!(!dir.path().join("target").exists(), "the link was not followed");
    }

    #[test]
    fn unwritable_location_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not_a_dir");
        fs::write(&file, b"").unwrap();
        let err = EventWriter::create(&file.join("run")).err().unwrap();
        assert!(matches!(err, LogError::CreateDir { .. }), "{err}");
        let err = EventWriter::create(&file).err().unwrap();
        assert!(matches!(err, LogError::CreateDir { .. } | LogError::Open { .. }), "{err}");
    }
}
