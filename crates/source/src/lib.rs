//! gaoler-source (work in progress).
