//! Optimizers (SGD, Adam, AdamW) with parameter groups and checkpointable state.
