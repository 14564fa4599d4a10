//! gaoler-config (work in progress).
