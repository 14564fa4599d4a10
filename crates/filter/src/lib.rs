//! gaoler-filter (work in progress).
