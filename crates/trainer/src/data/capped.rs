//! Reading data files with a size cap: a huge file is refused with its size, a device
//! (`/dev/zero`) as not a regular file, instead of filling the memory.

use std::io::Read;
use std::path::Path;

/// Largest data file read, compressed or not (2 GiB: far above the datasets this trainer holds
/// in memory).
pub const MAX_DATA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Reads at most `cap` bytes from `reader`; more is an error naming the cap.
pub fn read_all(reader: impl Read, cap: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader.take(cap + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!("it holds more than the {cap} bytes accepted"));
    }
    Ok(bytes)
}

/// Reads `path` (at most [`MAX_DATA_BYTES`]); the error names the file and why.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let why = |e: String| format!("cannot read {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| why(e.to_string()))?;
    let meta = file.metadata().map_err(|e| why(e.to_string()))?;
    if !meta.is_file() {
        return Err(why("not a regular file".into()));
    }
    if meta.len() > MAX_DATA_BYTES {
        return Err(why(format!("it is {} bytes, more than the {MAX_DATA_BYTES} bytes accepted", meta.len())));
    }
    read_all(file, MAX_DATA_BYTES).map_err(why)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, String> {
    String::from_utf8(read(path)?).map_err(|e| format!("cannot read {}: not UTF-8 text: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn devices_are_refused() {
        assert!(read(Path::new("/dev/zero")).unwrap_err().contains("/dev/zero: not a regular file"));
    }

    #[test]
    fn endless_readers_stop_at_the_cap() {
        assert!(read_all(std::io::repeat(0), 1000).unwrap_err().contains("more than the 1000 bytes"));
        assert_eq!(read_all(&b"abc"[..], 3).unwrap(), b"abc");
    }
}
