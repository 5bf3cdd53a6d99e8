//! `manifest.json`: the size and CRC-32C of every file of a checkpoint, written last into the
//! temporary directory (before its rename) and verified before a checkpoint is loaded.
//!
//! CRC-32C detects every truncation (by the size), every flipped byte and every burst of up to
//! 32 bits, and almost all other accidental damage (2⁻³² chance to miss); it is not a defence
//! against deliberate tampering. Checkpoints written before manifests existed have none: they
//! load unverified, with a note.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The manifest's file name inside a checkpoint directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Version of the manifest layout.
const MANIFEST_FORMAT: u32 = 1;

/// One file's size and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Size in bytes.
    pub size: u64,
    /// CRC-32C (Castagnoli) of the contents, 8 hex digits.
    pub crc32c: String,
}

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub format: u32,
    /// The hash used (`crc32c`).
    pub hash: String,
    /// Every file of the checkpoint, by name.
    pub files: BTreeMap<String, FileSum>,
}

/// The outcome of a verification that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Every file matches the manifest.
    Checked,
    /// The checkpoint has no manifest (written by an older version): not verified.
    NoManifest,
}

/// Size and CRC-32C of the file at `path`, read in chunks.
pub fn file_sum(path: &Path) -> std::io::Result<FileSum> {
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut crc, mut size) = (0u32, 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        size += n as u64;
    }
    Ok(FileSum { size, crc32c: format!("{crc:08x}") })
}

/// Size and CRC-32C of `bytes`.
pub fn bytes_sum(bytes: &[u8]) -> FileSum {
    FileSum { size: bytes.len() as u64, crc32c: format!("{:08x}", crc32c::crc32c(bytes)) }
}

/// What `dir`'s manifest lists for `name`: `None` without a manifest; a sum no file can have
/// (size `u64::MAX`) when the manifest is unreadable or does not list it.
pub fn listed(dir: &Path, name: &str) -> Option<FileSum> {
    let text = fs::read(dir.join(MANIFEST_FILE)).ok()?;
    let unmatchable = FileSum { size: u64::MAX, crc32c: String::new() };
    let manifest: Manifest = match serde_json::from_slice(&text) {
        Ok(m) => m,
        Err(_) => return Some(unmatchable),
    };
    Some(manifest.files.get(name).cloned().unwrap_or(unmatchable))
}

/// Writes the manifest of `files` (names inside `dir`) as `dir/manifest.json`, created new and
/// synced.
pub fn write(dir: &Path, files: &[&str]) -> std::io::Result<()> {
    let mut sums = BTreeMap::new();
    for name in files {
        sums.insert((*name).to_owned(), file_sum(&dir.join(name))?);
    }
    let manifest = Manifest { format: MANIFEST_FORMAT, hash: "crc32c".to_owned(), files: sums };
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    let mut f = crate::safe_fs::create_new(&dir.join(MANIFEST_FILE))?;
    f.write_all(&json)?;
    f.sync_all()
}

/// Checks every file `required` is listed and every listed file matches its size and checksum.
/// `Err` says which file and how it differs.
pub fn verify(dir: &Path, required: &[&str]) -> Result<Verified, String> {
    let path = dir.join(MANIFEST_FILE);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Verified::NoManifest),
        Err(e) => return Err(format!("{MANIFEST_FILE}: {e}")),
    };
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| format!("{MANIFEST_FILE}: unreadable ({e})"))?;
    if manifest.format != MANIFEST_FORMAT || manifest.hash != "crc32c" {
        return Err(format!(
            "{MANIFEST_FILE}: format {} with hash `{}` (this build reads format {MANIFEST_FORMAT}, crc32c)",
            manifest.format, manifest.hash
        ));
    }
    if let Some(missing) = required.iter().find(|r| !manifest.files.contains_key(**r)) {
        return Err(format!("{MANIFEST_FILE}: does not list {missing}"));
    }
    for (name, want) in &manifest.files {
        if name.contains(['/', '\\']) || name == ".." {
            return Err(format!("{MANIFEST_FILE}: lists `{name}`, not a file name"));
        }
        let got = file_sum(&dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        if got.size != want.size {
            return Err(format!("{name}: {} bytes, the manifest says {} (truncated or damaged)", got.size, want.size));
        }
        if got.crc32c != want.crc32c {
            return Err(format!(
                "{name}: checksum mismatch (crc32c {}, the manifest says {})",
                got.crc32c, want.crc32c
            ));
        }
    }
    Ok(Verified::Checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            fs::write(d.path().join(name), bytes).unwrap();
        }
        d
    }

    #[test]
    fn detects_truncation_flips_and_missing_files() {
        let d = dir_with(&[("a", b"hello world"), ("b", b"0123456789")]);
        write(d.path(), &["a", "b"]).unwrap();
        assert_eq!(verify(d.path(), &["a", "b"]), Ok(Verified::Checked));
        assert_eq!(verify(d.path(), &["a", "c"]), Err("manifest.json: does not list c".to_owned()));

        fs::write(d.path().join("a"), b"hello worle").unwrap();
        let err = verify(d.path(), &["a"]).unwrap_err();
        assert!(err.starts_with("a: checksum mismatch (crc32c "), "{err}");

        fs::write(d.path().join("a"), b"hello world").unwrap();
        fs::write(d.path().join("b"), b"01234").unwrap();
        assert_eq!(verify(d.path(), &["a"]), Err("b: 5 bytes, the manifest says 10 (truncated or damaged)".to_owned()));

        fs::remove_file(d.path().join("b")).unwrap();
        assert!(verify(d.path(), &["a"]).unwrap_err().starts_with("b: "));
    }

    #[test]
    fn no_manifest_is_reported_and_a_broken_one_refused() {
        let d = dir_with(&[("a", b"x")]);
        assert_eq!(verify(d.path(), &["a"]), Ok(Verified::NoManifest));
        fs::write(d.path().join(MANIFEST_FILE), b"{not json").unwrap();
        assert!(verify(d.path(), &["a"]).unwrap_err().starts_with("manifest.json: unreadable"));
        assert!(write(d.path(), &["a"]).is_err(), "never overwrites an existing manifest");
    }

    #[test]
    fn the_crc_is_crc32c() {
        // The standard CRC-32C check value.
        let d = dir_with(&[("a", b"123456789")]);
        assert_eq!(file_sum(&d.path().join("a")).unwrap(), FileSum { size: 9, crc32c: "e3069283".to_owned() });
    }
}
