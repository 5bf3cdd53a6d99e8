//! Stop requests by signal. The first SIGINT (Ctrl-C), SIGTERM or SIGHUP asks the running
//! training to stop cleanly (the last completed step checkpointed, the logs flushed); the command
//! then exits with 128 + the signal's number (130, 143, 129). A second one of these signals exits
//! at once with 128 + its number.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::signal::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The signals that ask for a clean stop.
#[cfg(unix)]
const SIGNALS: &[i32] = &[SIGINT, SIGTERM, signal_hook::consts::signal::SIGHUP];
#[cfg(not(unix))]
const SIGNALS: &[i32] = &[SIGINT, SIGTERM];

/// SIGINT's number: the status of a stop requested by other means than a signal.
pub const CTRL_C: i32 = SIGINT;

/// The process-wide stop flag and the first signal that set it.
struct Handlers {
    stop: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

static HANDLERS: OnceLock<Handlers> = OnceLock::new();

fn handlers() -> &'static Handlers {
    HANDLERS.get_or_init(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        for &sig in SIGNALS {
            // Registration order is the order the actions run in: the exit sees the flag as it
            // was before this signal, so only a second signal exits.
            let status = 128 + sig;
            let _ = flag::register_conditional_shutdown(sig, status, stop.clone());
            let _ = flag::register_usize(sig, signal.clone(), sig as usize);
            let _ = flag::register(sig, stop.clone());
        }
        Handlers { stop, signal }
    })
}

/// Installs the handlers (once per process) and returns the stop flag the first SIGINT, SIGTERM
/// or SIGHUP sets; a second one exits the process with 128 + its number.
pub fn stop_flag() -> Arc<AtomicBool> {
    handlers().stop.clone()
}

/// The signal that requested the stop, if one did.
pub fn signal() -> Option<i32> {
    let h = HANDLERS.get()?;
    if !h.stop.load(Ordering::SeqCst) {
        return None;
    }
    match h.signal.load(Ordering::SeqCst) {
        0 => None,
        n => i32::try_from(n).ok(),
    }
}

/// The conventional exit status of a process stopped by `signal`: 128 + its number.
pub fn exit_status(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}
