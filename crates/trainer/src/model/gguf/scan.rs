//! A GGUF header walk that finds the tensor whose type candle cannot read: candle's reader stops
//! at it with only the type's number, so the error could not name the tensor otherwise.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// GGML tensor types candle reads (and dequantizes), by name.
pub const SUPPORTED_TYPES: &[&str] = &[
    "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
    "Q8_K",
];

/// GGML's name of tensor type `id` (ggml.h), or `type <id>`.
pub fn type_name(id: u32) -> String {
    const NAMES: [&str; 40] = [
        "F32",
        "F16",
        "Q4_0",
        "Q4_1",
        "Q4_2",
        "Q4_3",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q8_1",
        "Q2_K",
        "Q3_K",
        "Q4_K",
        "Q5_K",
        "Q6_K",
        "Q8_K",
        "IQ2_XXS",
        "IQ2_XS",
        "IQ3_XXS",
        "IQ1_S",
        "IQ4_NL",
        "IQ3_S",
        "IQ2_S",
        "IQ4_XS",
        "I8",
        "I16",
        "I32",
        "I64",
        "F64",
        "IQ1_M",
        "BF16",
        "Q4_0_4_4",
        "Q4_0_4_8",
        "Q4_0_8_8",
        "TQ1_0",
        "TQ2_0",
        "IQ4_NL_4_4",
        "IQ4_NL_4_8",
        "IQ4_NL_8_8",
        "MXFP4",
    ];
    NAMES.get(id as usize).map_or_else(|| format!("type {id}"), |n| (*n).to_owned())
}

/// Whether candle reads tensor type `id`.
fn candle_reads(id: u32) -> bool {
    matches!(id, 0..=3 | 6..=15 | 30)
}

struct Header {
    r: BufReader<File>,
}

impl Header {
    fn u32(&mut self) -> std::io::Result<u32> {
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> std::io::Result<u64> {
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        let n = i64::try_from(n).map_err(|_| std::io::Error::other("length out of range"))?;
        self.r.seek_relative(n)
    }

    fn string(&mut self) -> std::io::Result<String> {
        let n = self.u64()?;
        if n > 1 << 20 {
            return Err(std::io::Error::other("name too long"));
        }
        let mut b = vec![0u8; n as usize];
        self.r.read_exact(&mut b)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Skips one metadata value of type `t`.
    fn skip_value(&mut self, t: u32) -> std::io::Result<()> {
        match t {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => {
                let n = self.u64()?;
                self.skip(n)
            }
            9 => {
                let elem = self.u32()?;
                let n = self.u64()?;
                let width = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    10..=12 => 8,
                    _ => 0,
                };
                if width > 0 {
                    return self.skip(n.saturating_mul(width));
                }
                (0..n).try_for_each(|_| self.skip_value(elem))
            }
            _ => Err(std::io::Error::other("unknown metadata value type")),
        }
    }
}

/// The first tensor (name, type id) of the GGUF (v2/v3) file at `path` whose type candle does
/// not read, if the header can be walked to it.
pub(super) fn unreadable_tensor(path: &Path) -> Option<(String, u32)> {
    let mut h = Header { r: BufReader::new(File::open(path).ok()?) };
    let magic = h.u32().ok()?;
    let version = h.u32().ok()?;
    if magic != 0x4655_4747 || !(2..=3).contains(&version) {
        return None;
    }
    let tensors = h.u64().ok()?;
    let kvs = h.u64().ok()?;
    for _ in 0..kvs {
        h.string().ok()?;
        let t = h.u32().ok()?;
        h.skip_value(t).ok()?;
    }
    for _ in 0..tensors {
        let name = h.string().ok()?;
        let dims = h.u32().ok()?;
        h.skip(u64::from(dims) * 8).ok()?;
        let t = h.u32().ok()?;
        h.u64().ok()?;
        if !candle_reads(t) {
            return Some((name, t));
        }
    }
    None
}
