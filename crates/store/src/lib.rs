//! gaoler-store (work in progress).
