//! gaoler-action (work in progress).
