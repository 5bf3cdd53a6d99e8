//! Reading a text file with a size cap, so that a huge file or a device (`/dev/zero`) given as a
//! config or a metrics file is refused with its size instead of filling the memory.

use std::io::Read;
use std::path::Path;

/// Largest config file read (far above any real config).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Largest `--metrics` file read (one number a line: millions of observations).
pub const MAX_METRICS_BYTES: u64 = 64 * 1024 * 1024;

/// Reads `path` as UTF-8 text of at most `cap` bytes; the error says why, in words.
pub fn read_capped(path: &Path, cap: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if meta.is_dir() {
        return Err("it is a directory".into());
    }
    if meta.is_file() && meta.len() > cap {
        return Err(format!("it is {} bytes, more than the {cap} bytes accepted", meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!("it holds more than the {cap} bytes accepted (not a regular file?)"));
    }
    String::from_utf8(bytes).map_err(|e| format!("it is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_files_and_endless_devices_are_refused_with_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.yaml");
        std::fs::write(&p, vec![b'a'; 2000]).unwrap();
        assert_eq!(read_capped(&p, 2000).unwrap().len(), 2000);
        assert!(read_capped(&p, 1000).unwrap_err().contains("2000 bytes, more than the 1000 bytes"));
        #[cfg(unix)]
        assert!(read_capped(Path::new("/dev/zero"), 1000).unwrap_err().contains("more than the 1000 bytes"));
        assert!(read_capped(dir.path(), 1000).unwrap_err().contains("directory"));
    }
}
