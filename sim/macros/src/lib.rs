//! Attribute macros for lockstep-sim (work in progress).
