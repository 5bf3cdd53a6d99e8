//! Ctrl-C: the first one asks the running training to stop cleanly, a second exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A stop flag set by the first Ctrl-C; a second Ctrl-C exits the process with status 130.
pub fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Only one handler per process: if one is already set, it keeps its own flag.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    stop
}
