//! Finding a pretrained model's files: in a local folder, or in the standard Hugging Face cache
//! (shared with Python's `huggingface_hub`/`transformers`), downloading into it when allowed.
//!
//! The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
//! else `~/.cache/huggingface/hub` (Python's rules). A model `org/name` at revision `rev` lives
//! in `models--org--name/`: `refs/<rev>` holds a commit hash and `snapshots/<commit>/` the files
//! (a 40-hex `rev` may name the snapshot directly). A model whose files are all cached is used
//! without touching the network. Otherwise, unless downloads are off (`offline: true` in the
//! config, or `HF_HUB_OFFLINE=1`, the Python convention, which hf-hub itself does not read),
//! the missing files are downloaded with hf-hub into that same cache (`HF_ENDPOINT` and
//! `HF_TOKEN` are honoured). A miss says where it looked and what to do.

use std::path::{Path, PathBuf};

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A hub repository at a revision (branch, tag or commit).
    Hub {
        /// `org/name`.
        repo: String,
        /// Branch, tag or 40-hex commit.
        revision: String,
    },
    /// A folder holding the files.
    Local(PathBuf),
}

/// The Hugging Face cache directory, and which setting chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDir {
    /// The `hub` cache directory.
    pub path: PathBuf,
    /// `HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME` or `HOME` (the default location).
    pub from: &'static str,
}

impl CacheDir {
    /// The cache from the environment (see the module doc for the order).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(p) = var("HF_HUB_CACHE") {
            return Self { path: p, from: "HF_HUB_CACHE" };
        }
        if let Some(p) = var("HF_HOME") {
            return Self { path: p.join("hub"), from: "HF_HOME" };
        }
        if let Some(p) = var("XDG_CACHE_HOME") {
            return Self { path: p.join("huggingface").join("hub"), from: "XDG_CACHE_HOME" };
        }
        let home = var("HOME").or_else(|| var("USERPROFILE")).unwrap_or_else(|| PathBuf::from("."));
        Self { path: home.join(".cache").join("huggingface").join("hub"), from: "HOME" }
    }

    /// The folder of model `repo`: `models--org--name`.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.path.join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The cached path of `file` of `repo` at `revision`, or the path that is missing (the ref
    /// file, or the file in the snapshot).
    pub fn lookup(&self, repo: &str, revision: &str, file: &str) -> Result<PathBuf, PathBuf> {
        let dir = self.repo_dir(repo);
        let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
        let commit = if is_commit {
            revision.to_owned() // snapshots/<commit>/, no ref needed
        } else {
            let ref_path = dir.join("refs").join(revision);
            match std::fs::read_to_string(&ref_path) {
                Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
                _ => return Err(ref_path),
            }
        };
        let path = dir.join("snapshots").join(commit).join(file);
        // `is_file` follows the snapshot's symlink into blobs/: a dangling link is a miss.
        if path.is_file() { Ok(path) } else { Err(path) }
    }
}

/// Whether `HF_HUB_OFFLINE` asks for no network (`1`, `true`, `yes`, `on`, any case).
pub fn offline_env() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// A model's files, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// `(file name, path)` of each requested file.
    pub files: Vec<(String, PathBuf)>,
    /// Where they came from, in words (`org/name@<commit> in the Hugging Face cache …`).
    pub origin: String,
}

impl ModelFiles {
    /// The path of `name`, one of the requested files.
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, p)| p.as_path())
    }
}

/// Why a model's files could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// Not in the cache, and downloads are off.
    #[error(
        "model `{repo}` (revision `{revision}`) is not in the Hugging Face cache, and downloads are off ({why}).\n  cache: {} (from {})\n  looked for: {} (missing)\n  to fix: run once with network access{} so it is downloaded into the cache; or fetch it with `huggingface-cli download {repo} --revision {revision}`; or point HF_HUB_CACHE (or HF_HOME) at a cache that holds it; or set model.local_dir to a folder with config.json, model.safetensors and tokenizer.json",
        cache.path.display(), cache.from, looked.display(),
        why.fix()
    )]
    NotCached {
        /// `org/name`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The cache searched.
        cache: CacheDir,
        /// The first missing path.
        looked: PathBuf,
        /// Which setting turned downloads off.
        why: Offline,
    },
    /// Not in the cache, and the download failed.
    #[error(
        "model `{repo}` (revision `{revision}`): {file} is not in the Hugging Face cache and downloading it failed: {message}\n  cache: {} (from {})\n  looked for: {} (missing)\n  to fix: check the model id and revision (https://huggingface.co/{repo}), the network, HF_ENDPOINT, and HF_TOKEN for private or gated models; or set model.local_dir to a folder with config.json, model.safetensors and tokenizer.json",
        cache.path.display(), cache.from, looked.display()
    )]
    Download {
        /// `org/name`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The file that could not be downloaded.
        file: String,
        /// The cache searched.
        cache: CacheDir,
        /// The first missing path.
        looked: PathBuf,
        /// The downloader's error.
        message: String,
    },
    /// A local folder lacks a file.
    #[error("{} has no {file} (model.local_dir needs config.json, model.safetensors and tokenizer.json, as a Hugging Face model folder has)", dir.display())]
    LocalMissing {
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        file: String,
    },
}

/// Whether missing files may be downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downloads {
    /// Download what the cache lacks.
    Allowed,
    /// Use only the cache, for this reason.
    Off(Offline),
}

/// Which setting turned downloads off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// The `HF_HUB_OFFLINE` environment variable.
    Env,
    /// `model.offline: true` in the config.
    Config,
}

impl Offline {
    /// How to turn downloads back on, for messages.
    fn fix(self) -> &'static str {
        match self {
            Offline::Env => " (unset HF_HUB_OFFLINE)",
            Offline::Config => " (model.offline: false)",
        }
    }
}

impl std::fmt::Display for Offline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Offline::Env => "HF_HUB_OFFLINE is set",
            Offline::Config => "model.offline is true",
        })
    }
}

impl Downloads {
    /// Off when `HF_HUB_OFFLINE` says so or the config's `offline` is true.
    pub fn from_settings(config_offline: bool) -> Self {
        if offline_env() {
            Downloads::Off(Offline::Env)
        } else if config_offline {
            Downloads::Off(Offline::Config)
        } else {
            Downloads::Allowed
        }
    }
}

/// Finds `files` of `source`, looking in `cache` for a hub model and downloading what it lacks
/// when `downloads` allows.
pub fn resolve(
    source: &ModelSource,
    files: &[&str],
    downloads: Downloads,
    cache: &CacheDir,
) -> Result<ModelFiles, Box<HubError>> {
    match source {
        ModelSource::Local(dir) => {
            let mut out = Vec::new();
            for f in files {
                let p = dir.join(f);
                if !p.is_file() {
                    return Err(Box::new(HubError::LocalMissing { dir: dir.clone(), file: (*f).to_owned() }));
                }
                out.push(((*f).to_owned(), p));
            }
            Ok(ModelFiles { files: out, origin: format!("local folder {}", dir.display()) })
        }
        ModelSource::Hub { repo, revision } => {
            let why = match downloads {
                Downloads::Off(why) => Some(why),
                Downloads::Allowed => None,
            };
            let mut out = Vec::new();
            let mut downloaded = false;
            for f in files {
                let path = match cache.lookup(repo, revision, f) {
                    Ok(p) => p,
                    Err(looked) => match why {
                        Some(why) => {
                            return Err(Box::new(HubError::NotCached {
                                repo: repo.clone(),
                                revision: revision.clone(),
                                cache: cache.clone(),
                                looked,
                                why,
                            }));
                        }
                        None => {
                            downloaded = true;
                            download(&cache.path, repo, revision, f).map_err(|message| {
                                Box::new(HubError::Download {
                                    repo: repo.clone(),
                                    revision: revision.clone(),
                                    file: (*f).to_owned(),
                                    cache: cache.clone(),
                                    looked,
                                    message,
                                })
                            })?
                        }
                    },
                };
                out.push(((*f).to_owned(), path));
            }
            let snapshot = out
                .first()
                .and_then(|(_, p)| p.parent())
                .and_then(|p| p.file_name())
                .map(|c| c.to_string_lossy().into_owned());
            let how = if downloaded { "downloaded into" } else { "from" };
            let at = snapshot.map(|c| format!("@{}", &c[..c.len().min(12)])).unwrap_or_default();
            Ok(ModelFiles {
                files: out,
                origin: format!("{repo}{at} ({how} the Hugging Face cache {})", cache.path.display()),
            })
        }
    }
}

/// Downloads `file` of `repo` at `revision` into the cache at `cache` with hf-hub (blocking).
#[cfg(feature = "hub")]
fn download(cache: &Path, repo: &str, revision: &str, file: &str) -> Result<PathBuf, String> {
    let mut builder =
        hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(cache.to_owned())).with_progress(true);
    if let Some(endpoint) = std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty()) {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
        builder = builder.with_token(Some(token));
    }
    let api = builder.build().map_err(|e| e.to_string())?;
    let repo = hf_hub::Repo::with_revision(repo.to_owned(), hf_hub::RepoType::Model, revision.to_owned());
    api.repo(repo).get(file).map_err(|e| e.to_string())
}

/// Without the `hub` feature there is no downloader.
#[cfg(not(feature = "hub"))]
fn download(_cache: &Path, _repo: &str, _revision: &str, _file: &str) -> Result<PathBuf, String> {
    Err("this build has no hub downloads (build trainer with its `hub` feature, as the cli does by default)".to_owned())
}

/// Checks a hub model id: `name` or `org/name`, of letters, digits, `-`, `_`, `.`.
pub fn check_repo_id(id: &str) -> Result<(), String> {
    let parts: Vec<&str> = id.split('/').collect();
    let part_ok = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if parts.len() <= 2 && parts.iter().all(part_ok) {
        Ok(())
    } else {
        Err(format!("`{id}` is not a hub model id like `sentence-transformers/all-MiniLM-L6-v2`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path) -> CacheDir {
        CacheDir { path: dir.to_owned(), from: "HF_HUB_CACHE" }
    }

    #[test]
    fn lookup_follows_refs_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        let repo = c.repo_dir("org/m");
        assert_eq!(repo, dir.path().join("models--org--m"));
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("snapshots").join(commit).join("config.json"), "{}").unwrap();
        assert_eq!(c.lookup("org/m", "main", "config.json").unwrap_err(), repo.join("refs/main"));
        std::fs::write(repo.join("refs/main"), format!("{commit}\n")).unwrap();
        assert_eq!(
            c.lookup("org/m", "main", "config.json").unwrap(),
            repo.join("snapshots").join(commit).join("config.json")
        );
        assert_eq!(
            c.lookup("org/m", commit, "config.json").unwrap(),
            repo.join("snapshots").join(commit).join("config.json")
        );
        assert_eq!(
            c.lookup("org/m", "main", "model.safetensors").unwrap_err(),
            repo.join("snapshots").join(commit).join("model.safetensors")
        );
    }

    #[cfg(unix)]
    #[test]
    fn python_style_snapshots_link_into_blobs() {
        // huggingface_hub stores files in blobs/ and links them from snapshots/<commit>/.
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        let repo = c.repo_dir("org/m");
        let commit = "89abcdef0123456789abcdef0123456789abcdef";
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("blobs/0a1b2c"), "{}").unwrap();
        std::os::unix::fs::symlink("../../blobs/0a1b2c", snap.join("config.json")).unwrap();
        std::os::unix::fs::symlink("../../blobs/missing", snap.join("model.safetensors")).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        let found = c.lookup("org/m", "main", "config.json").unwrap();
        assert_eq!(std::fs::read_to_string(found).unwrap(), "{}");
        assert_eq!(
            c.lookup("org/m", "main", "model.safetensors").unwrap_err(),
            snap.join("model.safetensors"),
            "a dangling link is a miss"
        );
        let other = "0000000000000000000000000000000000000000";
        assert_eq!(
            c.lookup("org/m", other, "config.json").unwrap_err(),
            repo.join("snapshots").join(other).join("config.json")
        );
    }

    #[test]
    fn local_folders_need_every_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let src = ModelSource::Local(dir.path().to_owned());
        let off = Downloads::Off(Offline::Config);
        let files = resolve(&src, &["config.json"], off, &cache(dir.path())).unwrap();
        assert_eq!(files.get("config.json").unwrap(), dir.path().join("config.json"));
        let e = resolve(&src, &["config.json", "tokenizer.json"], off, &cache(dir.path())).unwrap_err().to_string();
        assert!(e.contains("has no tokenizer.json"), "{e}");
    }

    #[test]
    fn a_miss_offline_says_where_it_looked_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let src = ModelSource::Hub { repo: "org/none".into(), revision: "v2".into() };
        let e =
            resolve(&src, &["config.json"], Downloads::Off(Offline::Env), &cache(dir.path())).unwrap_err().to_string();
        assert!(e.starts_with("model `org/none` (revision `v2`) is not in the Hugging Face cache, and downloads are off (HF_HUB_OFFLINE is set)"), "{e}");
        assert!(e.contains(&format!("cache: {} (from HF_HUB_CACHE)", dir.path().display())), "{e}");
        assert!(
            e.contains(&format!("looked for: {} (missing)", dir.path().join("models--org--none/refs/v2").display())),
            "{e}"
        );
        assert!(
            e.contains("unset HF_HUB_OFFLINE")
                && e.contains("huggingface-cli download org/none --revision v2")
                && e.contains("model.local_dir"),
            "{e}"
        );
    }

    #[test]
    fn repo_ids() {
        assert!(check_repo_id("sentence-transformers/all-MiniLM-L6-v2").is_ok());
        assert!(check_repo_id("gpt2").is_ok());
        for bad in ["", "a/b/c", "../x", "a/", "a b/c"] {
            assert!(check_repo_id(bad).is_err(), "{bad}");
        }
    }
}
