//! gaoler-datedetector (work in progress).
