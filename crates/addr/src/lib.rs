//! gaoler-addr (work in progress).
