//! The slow path: a PCRE2 search that ran out of the fast path's resources,
//! tried again with resources sized for the subject.
//!
//! The fast path runs PCRE2's JIT code on its default stack (32 KiB, on the
//! machine stack). A pattern that repeats a group, like
//! `\[(?:[^\[\]]|\[[^\]]*\])*\]`, pushes a frame per repetition, so that
//! stack runs out on a subject of about 1,300 characters, and a user name
//! that long would make a failure line invisible. Python's `re`, which
//! fail2ban uses, has no such limit. So a search that fails with a resource
//! error is run again here, in two steps:
//!
//! 1. the JIT code with a JIT stack sized for the subject
//!    ([`jit_stack_max`]); the stack is made for the one search and freed
//!    after it, so an attack with long lines leaves no resident memory
//!    behind (the stack's pages are only touched as they are used);
//! 2. if the stack runs out even so, PCRE2's interpreter, whose
//!    backtracking frames live on the heap, under a heap limit
//!    ([`HEAP_LIMIT_KIB`]).
//!
//! The match limit is what bounds the time spent on one line: the fast path
//! keeps PCRE2's default (10,000,000 steps, about 15 ms of JIT code), the
//! slow path allows [`MATCH_LIMIT`] (about 0.4 s). Linear patterns need a
//! few dozen steps a byte, so that evaluates any line the sources accept
//! (up to 1 MiB). What it stops is backtracking that grows with the square of the
//! line, which some stock filters allow on crafted input (upstream sshd's
//! `(?: ssh\d*)?` before `(?:(?! from ).)*$`, on a user name ending in
//! thousands of digits; evaluated up to about 10,000 of them): Python's `re`
//! takes two minutes on one such 64 KiB line, an attacker can send many,
//! and fail2ban then falls behind. A
//! search that runs out is [`Exhausted`]: the caller counts and reports the
//! line as not evaluated rather than guessing an answer, and stays on time.
//!
//! The pattern is compiled a second time, on first need, through `pcre2-sys`,
//! because the `pcre2` crate sets neither the match nor the heap limit, and
//! ties a JIT stack to each set of capture locations for their lifetime. The
//! code is compiled with the options the fast path's UTF code uses, so both
//! read the pattern the same way.

use std::ptr::{self, NonNull};

use pcre2_sys::*;

use crate::Options;

/// The interpreter's heap limit, in KiB (PCRE2's default is 20 GB).
pub(crate) const HEAP_LIMIT_KIB: u32 = 512 * 1024;

/// The largest JIT stack a retry may use.
const JIT_STACK_CAP: usize = 256 << 20;

/// The JIT stack for a retry on `len` bytes: 64 bytes a subject byte (the
/// freeswitch filter's target field needs about 24), at least 1 MiB, at most
/// [`JIT_STACK_CAP`]. Only the pages a search touches become resident.
pub(crate) fn jit_stack_max(len: usize) -> usize {
    len.saturating_mul(64).clamp(1 << 20, JIT_STACK_CAP)
}

/// The slow path's match (and depth) limit (see the module docs).
pub(crate) const MATCH_LIMIT: u32 = 250_000_000;

/// A search that could not be completed within the slow path's limits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} on a {len}-byte subject")]
pub struct Exhausted {
    /// PCRE2's message for the last error (e.g. "match limit exceeded").
    pub reason: String,
    /// The subject's length in bytes.
    pub len: usize,
}

/// PCRE2 error codes that say "out of resources", not "bad input": a search
/// that fails with one of them is worth a retry with more.
pub(crate) fn is_resource_error(code: i32) -> bool {
    matches!(
        code,
        PCRE2_ERROR_JIT_STACKLIMIT
            | PCRE2_ERROR_MATCHLIMIT
            | PCRE2_ERROR_DEPTHLIMIT
            | PCRE2_ERROR_HEAPLIMIT
            | PCRE2_ERROR_NOMEMORY
    )
}

/// PCRE2's text for an error code.
fn message(code: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are passed together; PCRE2 writes
    // at most that many code units, NUL-terminated, and returns the length
    // (or a negative code when the buffer is too small or the code unknown).
    let n = unsafe { pcre2_get_error_message_8(code, buf.as_mut_ptr(), buf.len()) };
    match usize::try_from(n) {
        Ok(n) => String::from_utf8_lossy(&buf[..n.min(buf.len())]).into_owned(),
        Err(_) => format!("PCRE2 error {code}"),
    }
}

/// Spans of every group of a match (group 0 is the whole match).
pub(crate) type Spans = Vec<Option<(usize, usize)>>;

/// A pattern compiled for the slow path.
pub(crate) struct SlowCode {
    code: NonNull<pcre2_code_8>,
}

// SAFETY: a compiled (and JIT-compiled) pcre2_code is read-only during
// matching; PCRE2 documents it as shareable between threads. All mutable
// state (match data, match context, JIT stack) is made per search.
unsafe impl Send for SlowCode {}
unsafe impl Sync for SlowCode {}

impl Drop for SlowCode {
    fn drop(&mut self) {
        // SAFETY: `code` came from pcre2_compile_8 and is freed only here.
        unsafe { pcre2_code_free_8(self.code.as_ptr()) }
    }
}

/// Owned PCRE2 match-time objects, freed on drop (also on early return).
struct Scratch {
    data: *mut pcre2_match_data_8,
    context: *mut pcre2_match_context_8,
    stack: *mut pcre2_jit_stack_8,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or owned by this value; the free
        // functions accept null.
        unsafe {
            pcre2_jit_stack_free_8(self.stack);
            pcre2_match_data_free_8(self.data);
            pcre2_match_context_free_8(self.context);
        }
    }
}

impl SlowCode {
    /// Compile the (already translated) pattern as the fast path's UTF
    /// code is compiled, and JIT-compile it where JIT is available.
    pub(crate) fn compile(pattern: &str, opts: Options) -> Result<SlowCode, String> {
        let mut options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
        if opts.multi_line {
            options |= PCRE2_MULTILINE;
        }
        if opts.case_insensitive {
            options |= PCRE2_CASELESS;
        }
        let (mut err, mut offset) = (0, 0);
        // SAFETY: pointer and length describe the pattern's bytes; a null
        // compile context means defaults (as the fast path's code, which
        // only sets a newline convention when asked for CRLF).
        let code = unsafe {
            pcre2_compile_8(
                pattern.as_ptr(),
                pattern.len(),
                options,
                &mut err,
                &mut offset,
                ptr::null_mut(),
            )
        };
        let code = NonNull::new(code).ok_or_else(|| message(err))?;
        // A JIT failure (no JIT on this platform) leaves the interpreter,
        // which pcre2_match then uses for step 1 as well.
        // SAFETY: `code` is a valid compiled pattern.
        unsafe { pcre2_jit_compile_8(code.as_ptr(), PCRE2_JIT_COMPLETE) };
        Ok(SlowCode { code })
    }

    /// Search `subject` from `start` with the slow path's resources.
    pub(crate) fn search(&self, subject: &[u8], start: usize) -> Result<Option<Spans>, Exhausted> {
        let len = subject.len();
        // SAFETY: each object is created from a valid code or with default
        // (null) general contexts; null results are checked before use and
        // everything is freed by `Scratch`'s drop.
        let mut s = unsafe {
            Scratch {
                data: pcre2_match_data_create_from_pattern_8(self.code.as_ptr(), ptr::null_mut()),
                context: pcre2_match_context_create_8(ptr::null_mut()),
                stack: pcre2_jit_stack_create_8(32 << 10, jit_stack_max(len), ptr::null_mut()),
            }
        };
        if s.data.is_null() || s.context.is_null() {
            return Err(Exhausted {
                reason: message(PCRE2_ERROR_NOMEMORY),
                len,
            });
        }
        // SAFETY: the context is valid; a null stack leaves the default one
        // (step 1 then fails as the fast path did and step 2 follows).
        unsafe {
            if !s.stack.is_null() {
                pcre2_jit_stack_assign_8(s.context, None, s.stack.cast());
            }
            pcre2_set_match_limit_8(s.context, MATCH_LIMIT);
            pcre2_set_depth_limit_8(s.context, MATCH_LIMIT);
            pcre2_set_heap_limit_8(s.context, HEAP_LIMIT_KIB);
        }
        let mut rc = self.run(&mut s, subject, start, 0);
        // (a step budget spent is spent: the interpreter would only spend
        // it again, more slowly)
        if matches!(rc, PCRE2_ERROR_JIT_STACKLIMIT | PCRE2_ERROR_NOMEMORY) {
            rc = self.run(&mut s, subject, start, PCRE2_NO_JIT);
        }
        match rc {
            PCRE2_ERROR_NOMATCH => Ok(None),
            rc if rc > 0 => {
                // SAFETY: the ovector of a match data block made from this
                // pattern has a pair for every group, and stays valid
                // while `s.data` lives.
                let ovector = unsafe {
                    let n = pcre2_get_ovector_count_8(s.data) as usize;
                    std::slice::from_raw_parts(pcre2_get_ovector_pointer_8(s.data), 2 * n)
                };
                Ok(Some(
                    ovector
                        .chunks_exact(2)
                        .map(|p| (p[0] != usize::MAX).then_some((p[0], p[1])))
                        .collect(),
                ))
            }
            rc => Err(Exhausted {
                reason: message(rc),
                len,
            }),
        }
    }

    fn run(&self, s: &mut Scratch, subject: &[u8], start: usize, options: u32) -> i32 {
        // An empty slice may have a dangling pointer; PCRE2 gets a real one
        // (with length 0) either way.
        static ONE: &[u8] = &[0];
        let ptr = if subject.is_empty() {
            ONE.as_ptr()
        } else {
            subject.as_ptr()
        };
        // SAFETY: pointer and length describe `subject` (or a valid byte
        // with length 0); `start <= len` is the caller's contract, checked
        // by PCRE2 too (PCRE2_ERROR_BADOFFSET); UTF is checked by PCRE2
        // (no PCRE2_NO_UTF_CHECK), and MATCH_INVALID_UTF makes invalid
        // sequences non-matching rather than errors.
        unsafe {
            pcre2_match_8(
                self.code.as_ptr(),
                ptr,
                subject.len(),
                start,
                options,
                s.data,
                s.context,
            )
        }
    }
}
