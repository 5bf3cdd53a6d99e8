//! Scalar logging: TensorBoard event files and metrics.jsonl.
