//! The deterministic simulator for lockstep (work in progress).
