//! The candle training engine: optimizers with checkpointable state, the training loop with
//! plateau and warm-restart hooks, checkpoints with exact resume, and logging (TensorBoard event
//! files and `metrics.jsonl`).

pub mod logging;
pub mod optim;
