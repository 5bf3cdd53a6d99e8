//! Device selection: `cpu`, `cuda[:N]`, `metal[:N]`, `auto`. Asking for a device this build lacks
//! is a clear error.

use candle_core::Device;

/// A device request that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The spec is not one of the accepted forms.
    #[error("unknown device `{0}`: expected cpu, cuda, cuda:N, metal, metal:N or auto")]
    Unknown(String),
    /// The build lacks the backend.
    #[error("device `{spec}` needs a build with the `{feature}` feature: cargo run --features {feature} -p cli -- …")]
    NotBuilt {
        /// The requested device.
        spec: String,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// The backend exists but the device could not be opened.
    #[error("cannot open device `{spec}`: {message}")]
    Open {
        /// The requested device.
        spec: String,
        /// candle's error.
        message: String,
    },
}

/// A parsed device spec: the `device:` field of a run config, written as a string (`cpu`,
/// `cuda`, `cuda:N`, `metal`, `metal:N`, `auto`) and parsed once, when the config is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The CPU.
    #[default]
    Cpu,
    /// CUDA device `N`.
    Cuda(usize),
    /// Metal device `N`.
    Metal(usize),
    /// CUDA if built and present, else Metal if built and present, else CPU.
    Auto,
}

impl TryFrom<String> for DeviceSpec {
    type Error = DeviceError;
    fn try_from(spec: String) -> Result<Self, DeviceError> {
        Self::parse(&spec)
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Metal(n) => write!(f, "metal:{n}"),
            Self::Auto => write!(f, "auto"),
        }
    }
}

impl schemars::JsonSchema for DeviceSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DeviceSpec".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
    fn inline_schema() -> bool {
        true
    }
}

impl DeviceSpec {
    /// Parses `cpu`, `cuda`, `cuda:N`, `metal`, `metal:N`, `auto`.
    pub fn parse(spec: &str) -> Result<Self, DeviceError> {
        let s = spec.trim().to_ascii_lowercase();
        let ordinal = |rest: &str| -> Result<usize, DeviceError> {
            if rest.is_empty() {
                return Ok(0);
            }
            rest.strip_prefix(':').and_then(|n| n.parse().ok()).ok_or_else(|| DeviceError::Unknown(spec.to_owned()))
        };
        match s.as_str() {
            "cpu" => Ok(Self::Cpu),
            "auto" => Ok(Self::Auto),
            _ if s.starts_with("cuda") => Ok(Self::Cuda(ordinal(&s[4..])?)),
            _ if s.starts_with("metal") => Ok(Self::Metal(ordinal(&s[5..])?)),
            _ => Err(DeviceError::Unknown(spec.to_owned())),
        }
    }

    /// Checks that this build can serve the spec (without opening the device).
    pub fn check_built(self) -> Result<(), DeviceError> {
        match self {
            Self::Cuda(_) if !cfg!(feature = "cuda") => {
                Err(DeviceError::NotBuilt { spec: self.to_string(), feature: "cuda" })
            }
            Self::Metal(_) if !cfg!(feature = "metal") => {
                Err(DeviceError::NotBuilt { spec: self.to_string(), feature: "metal" })
            }
            _ => Ok(()),
        }
    }

    /// Opens the device.
    pub fn open(self) -> Result<Device, DeviceError> {
        self.check_built()?;
        let open_err = |e: candle_core::Error| DeviceError::Open { spec: self.to_string(), message: first_line(&e) };
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) => Device::new_cuda(n).map_err(open_err),
            Self::Metal(n) => Device::new_metal(n).map_err(open_err),
            Self::Auto => {
                if cfg!(feature = "cuda")
                    && let Ok(d) = Device::new_cuda(0)
                {
                    return Ok(d);
                }
                if cfg!(feature = "metal")
                    && let Ok(d) = Device::new_metal(0)
                {
                    return Ok(d);
                }
                Ok(Device::Cpu)
            }
        }
    }
}

/// How long candle's barrier-pool workers spin for the next element-wise op before they sleep,
/// in spin-loop iterations (candle's default: 25 000). Measured on the 2-vCPU VM with a
/// busy-looping process beside the run (`BENCHMARKS.md`, contention): 2 000 took MNIST from 14.6k
/// to 42.8k samples/s and MiniLM from 18.5 to 24.0, within run-to-run noise when the machine is
/// otherwise idle.
pub const BARRIER_POOL_SPIN_LIMIT: u32 = 2_000;

/// Fixes the CPU threading for the process, each unless the user set the variable:
/// `RAYON_NUM_THREADS` to candle's own default (the number of physical cores) and
/// `CANDLE_BARRIER_POOL_SPIN_LIMIT` to [`BARRIER_POOL_SPIN_LIMIT`].
///
/// candle 0.11 asks for its thread count in every matrix multiplication and, without
/// `RAYON_NUM_THREADS`, re-reads `/proc/cpuinfo` each time: measured at 12 % of the time of a
/// small MLP training step (six reads per step). With the variable set it only parses it.
///
/// # Safety
/// Sets environment variables: call it at the start of `main`, before any other thread exists
/// (see [`std::env::set_var`]).
pub unsafe fn pin_cpu_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = num_cpus::get_physical().max(1);
        // SAFETY: the caller guarantees no other thread reads or writes the environment.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        // SAFETY: as above.
        unsafe { std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", BARRIER_POOL_SPIN_LIMIT.to_string()) };
    }
}

/// The first line of an error's text (candle appends a backtrace when `RUST_BACKTRACE` is set).
pub fn first_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(DeviceSpec::parse("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(DeviceSpec::parse("CUDA:1").unwrap(), DeviceSpec::Cuda(1));
        assert_eq!(DeviceSpec::parse("cuda").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(DeviceSpec::parse("metal:0").unwrap(), DeviceSpec::Metal(0));
        assert!(matches!(DeviceSpec::parse("tpu"), Err(DeviceError::Unknown(_))));
        assert!(matches!(DeviceSpec::parse("cuda:x"), Err(DeviceError::Unknown(_))));
    }

    #[test]
    #[cfg(not(feature = "cuda"))]
    fn cuda_without_the_feature_is_a_clear_error() {
        let e = DeviceSpec::parse("cuda:0").unwrap().open().unwrap_err();
        assert!(e.to_string().contains("--features cuda"), "{e}");
        assert!(matches!(DeviceSpec::Auto.open(), Ok(Device::Cpu)));
    }
}
