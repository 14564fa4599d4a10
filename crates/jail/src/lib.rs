//! gaoler-jail (work in progress).
