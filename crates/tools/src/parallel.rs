//! Reading a log file through a filter, in order or on several threads,
//! with the results of reading it in order.
//!
//! `gaoler regex` and `gaoler explain` both read this way; what they make
//! of each line is theirs ([`Settle`]).
//!
//! Design decisions:
//! - **Split where the filter is pure.** For single-line buffers, what the
//!   date detector and the regexes make of a line depends on the line
//!   alone, except for the detector's template order. So worker threads
//!   (each with a [`Filter::fork`]) examine blocks of whole lines, and
//!   this thread settles them in order ([`Filter::settle`]: last date,
//!   mlfid cache, failure data) and does the counting and printing. The
//!   report is the one reading in order gives.
//! - **No thread waits while there is work.** Settling costs a fraction
//!   of examining, so this thread, instead of waiting for the next block
//!   from a worker, examines a later block itself (on its own fork) and
//!   settles it in its turn. `-j N` is N threads in all: N - 1 workers.
//! - **Dates are checked, not trusted.** A fork's detector starts each
//!   block in the state it was left in, which is the main detector's as
//!   long as every line is *steady* (the last winning template found
//!   again, see `gaoler_datedetector::Checkpoint`). The main detector
//!   absorbs a block only when that holds; otherwise this thread reads the
//!   block again itself and sends its detector to the workers. A log that
//!   keeps changing date formats thus degrades to reading in order, never
//!   to different results.
//! - Every line's date is parsed (no literal stage 1, whose lazy dates
//!   need the lines in order), so the date template statistics are exact
//!   also with `--fast`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::mpsc;

use anyhow::{anyhow, Result};
use gaoler_filter::{Checkpoint, DateDetector, Examined, Filter};

use crate::{tested, trim_eol};

/// What a reader makes of the lines: called on this thread, in log order.
pub(crate) trait Settle {
    /// The time the filter is run at (`now` for its time checks).
    fn now(&self) -> f64;

    /// A tested line and what the filter made of it.
    fn outcome(
        &mut self,
        lineno: usize,
        line: &str,
        oc: gaoler_filter::LineOutcome,
        out: &mut dyn Write,
    ) -> Result<()>;

    /// `count` tested lines nothing matched, the first of which starts
    /// `text` (lines not tested may lie between), with how many of them
    /// the prefregex matched. Only called when [`Reading::quiet_runs`] is
    /// set.
    fn quiet(&mut self, text: &str, count: usize, pref_hits: usize);

    /// One line read in order (from [`read_in_order`]): by default, a
    /// tested line through the filter and then [`Settle::outcome`].
    fn line(
        &mut self,
        filter: &mut Filter,
        lineno: usize,
        line: &str,
        out: &mut dyn Write,
    ) -> Result<()> {
        let line = trim_eol(line);
        if !tested(line) {
            return Ok(());
        }
        let oc = filter.process_line_detailed(line, self.now());
        self.outcome(lineno, line, oc, out)
    }
}

/// How the threads hand lines back.
#[derive(Clone, Copy, Default)]
pub(crate) struct Reading<'k> {
    /// Lines nothing matched are handed back in runs ([`Settle::quiet`])
    /// rather than one by one: the summary only counts them.
    pub quiet_runs: bool,
    /// A quiet line this accepts is handed back on its own all the same
    /// (run on the worker threads: it must be cheap).
    pub keep: Option<&'k (dyn Fn(&str) -> bool + Sync)>,
}

/// Blocks in flight per worker.
const DEPTH: usize = 2;
/// Blocks this thread examines ahead of the one it waits for, at most.
const LOCAL_MAX: usize = 4;

/// One fork per worker, or `None` when this filter or machine does not
/// allow reading in parallel.
pub(crate) fn forks(filter: &mut Filter, threads: Option<usize>) -> Option<Vec<Filter>> {
    let n = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(64);
    if n < 2 || filter.date_detector().is_none() {
        return None;
    }
    (0..n).map(|_| filter.fork()).collect()
}

/// What a worker made of tested lines.
enum Record {
    /// One line: its index in the block, its byte span, the findings.
    Line(usize, usize, usize, Examined),
    /// Consecutive [quiet](Examined::quiet) lines (lines not tested may
    /// lie between), only collected for the summary report: the first
    /// one's byte offset, how many, how many the prefregex matches, and
    /// the last date found (time, byte span).
    Quiet {
        start: usize,
        count: usize,
        pref_hits: usize,
        date: Option<(f64, usize, usize)>,
    },
}

enum Job {
    /// Whole lines, and an emptied record list to fill (reused).
    Block(Vec<u8>, Vec<Record>),
    /// Continue with this date detector (the main one moved on).
    Sync(Box<DateDetector>),
}

/// A block examined by a worker.
struct ExaminedBlock {
    text: String,
    /// Lines in the block, tested or not.
    lines: usize,
    tested: Vec<Record>,
    /// The fork's date detector before and after the block.
    from: Option<Checkpoint>,
    to: Option<Checkpoint>,
}

fn checkpoint(f: &Filter) -> Option<Checkpoint> {
    f.date_detector().map(DateDetector::checkpoint)
}

/// Bytes read on the main thread before the workers start.
const WARM_UP_BYTES: usize = 64 << 10;

/// Whole lines as text; invalid UTF-8 is replaced as when decoding line
/// by line (an invalid sequence never spans a newline). The block is
/// validated with SIMD: several times faster than `String::from_utf8`,
/// and every byte of the log goes through it.
fn decode_block(buf: Vec<u8>) -> String {
    if simdutf8::basic::from_utf8(&buf).is_ok() {
        // SAFETY: `buf` was just validated as UTF-8.
        unsafe { String::from_utf8_unchecked(buf) }
    } else {
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Read a block on this thread (examined here, every date parsed, as
/// on a fork); returns its number of lines.
fn settle_here(
    state: &mut dyn Settle,
    filter: &mut Filter,
    text: &str,
    lineno: usize,
    out: &mut dyn Write,
) -> Result<usize> {
    let now = state.now();
    let mut lines = 0;
    for (i, line) in text.split_terminator('\n').enumerate() {
        let line = trim_eol(line);
        if tested(line) {
            let ex = filter.examine(line, now);
            let oc = filter.settle(ex, line, now);
            state.outcome(lineno + i + 1, line, oc, out)?;
        }
        lines = i + 1;
    }
    Ok(lines)
}

fn examine(
    fork: &mut Filter,
    buf: Vec<u8>,
    mut tested_lines: Vec<Record>,
    reading: Reading<'_>,
    now: f64,
) -> ExaminedBlock {
    let text = decode_block(buf);
    let from = checkpoint(fork);
    tested_lines.clear();
    let mut lines = 0;
    let mut start = 0;
    while let Some(p) = memchr::memchr(b'\n', &text.as_bytes()[start..]) {
        let line = trim_eol(&text[start..start + p]);
        if tested(line) {
            let ex = fork.examine(line, now);
            let quiet = ex
                .quiet()
                .filter(|_| reading.quiet_runs && !reading.keep.is_some_and(|k| k(line)));
            match quiet {
                Some(date) => {
                    let pref = usize::from(ex.prefregex() == Some(true));
                    let date = date.map(|(t, (a, b))| (t, start + a, start + b));
                    match tested_lines.last_mut() {
                        Some(Record::Quiet {
                            count,
                            pref_hits,
                            date: last,
                            ..
                        }) => {
                            *count += 1;
                            *pref_hits += pref;
                            if date.is_some() {
                                *last = date;
                            }
                        }
                        _ => tested_lines.push(Record::Quiet {
                            start,
                            count: 1,
                            pref_hits: pref,
                            date,
                        }),
                    }
                }
                None => tested_lines.push(Record::Line(lines, start, start + line.len(), ex)),
            }
        }
        lines += 1;
        start += p + 1;
    }
    let to = checkpoint(fork);
    ExaminedBlock {
        text,
        lines,
        tested: tested_lines,
        from,
        to,
    }
}

/// Reads blocks of whole lines; a last line without newline is not
/// read (as in order). Buffers come back through
/// [`Blocks::recycle`]: reusing them saves the page faults of fresh
/// megabytes.
pub(crate) struct Blocks {
    file: File,
    size: usize,
    carry: Vec<u8>,
    spare: Vec<Vec<u8>>,
    eof: bool,
}

impl Blocks {
    pub(crate) fn new(file: File, size: usize) -> Blocks {
        Blocks {
            file,
            size: size.max(1),
            carry: Vec::new(),
            spare: Vec::new(),
            eof: false,
        }
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.spare.push(buf);
    }

    fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        self.next_sized(self.size)
    }

    fn next_sized(&mut self, size: usize) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if self.eof {
                return Ok(None);
            }
            let mut buf = self.spare.pop().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(&self.carry);
            let want = buf.len() + size;
            // (`read_to_end` fills spare capacity without zeroing it)
            buf.reserve(size);
            while buf.len() < want {
                let room = (want - buf.len()) as u64;
                match (&mut self.file).take(room).read_to_end(&mut buf) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            match memchr::memrchr(b'\n', &buf) {
                Some(p) => {
                    self.carry.clear();
                    self.carry.extend_from_slice(&buf[p + 1..]);
                    buf.truncate(p + 1);
                    return Ok(Some(buf));
                }
                // one line longer than a block: read on
                None => self.carry = buf,
            }
        }
    }
}

/// Where the next block to settle is being examined.
enum Slot {
    /// By this worker (its results come back in the order sent).
    Worker(usize),
    /// Here, already done.
    Local(Box<ExaminedBlock>),
}

pub(crate) fn run(
    state: &mut dyn Settle,
    reading: Reading<'_>,
    filter: &mut Filter,
    mut forks: Vec<Filter>,
    mut blocks: Blocks,
    bar: Option<&indicatif::ProgressBar>,
    out: &mut dyn Write,
) -> Result<()> {
    let now = state.now();
    // One fork examines blocks on this thread whenever the next block
    // to settle is not back yet: time that would go to waiting.
    let Some(mut local) = forks.pop() else {
        return Err(anyhow!("no filter fork for this thread"));
    };
    let n = forks.len();
    std::thread::scope(|scope| {
        let mut jobs = Vec::with_capacity(n);
        let mut results = Vec::with_capacity(n);
        for mut fork in forks {
            let (jtx, jrx) = mpsc::channel::<Job>();
            let (rtx, rrx) = mpsc::channel::<ExaminedBlock>();
            scope.spawn(move || {
                for job in jrx {
                    match job {
                        Job::Sync(d) => {
                            if let Some(mine) = fork.date_detector_mut() {
                                *mine = *d;
                            }
                        }
                        Job::Block(b, records) => {
                            let done = examine(&mut fork, b, records, reading, now);
                            if rtx.send(done).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            jobs.push(jtx);
            results.push(rrx);
        }
        let gone = || anyhow!("a worker thread stopped");
        // every fork continues from this detector
        let sync = |filter: &Filter, local: &mut Filter| -> Result<()> {
            if let Some(d) = filter.date_detector() {
                for j in &jobs {
                    j.send(Job::Sync(Box::new(d.clone()))).map_err(|_| gone())?;
                }
                if let Some(mine) = local.date_detector_mut() {
                    mine.clone_from(d);
                }
            }
            Ok(())
        };
        let (mut lineno, mut position) = (0usize, 0u64);
        // The first lines are read here: the forks then start from a
        // date detector that has seen the log's date format. (Its very
        // first line is never steady, so every block in flight would
        // otherwise be read again.)
        if let Some(b) = blocks.next_sized(WARM_UP_BYTES)? {
            let text = decode_block(b);
            lineno += settle_here(state, filter, &text, lineno, out)?;
            position += text.len() as u64;
            blocks.recycle(text.into_bytes());
            sync(filter, &mut local)?;
        }
        let mut synced = checkpoint(filter);
        let mut spare_records: Vec<Vec<Record>> = Vec::new();
        let mut slots: VecDeque<Slot> = VecDeque::new();
        let mut in_flight = vec![0usize; n];
        let mut next_worker = 0;
        let mut eof = false;
        loop {
            // keep every worker's queue full
            while !eof && in_flight.iter().any(|&f| f < DEPTH) {
                while in_flight[next_worker] >= DEPTH {
                    next_worker = (next_worker + 1) % n;
                }
                let Some(b) = blocks.next()? else {
                    eof = true;
                    break;
                };
                let records = spare_records.pop().unwrap_or_default();
                jobs[next_worker]
                    .send(Job::Block(b, records))
                    .map_err(|_| gone())?;
                in_flight[next_worker] += 1;
                slots.push_back(Slot::Worker(next_worker));
                next_worker = (next_worker + 1) % n;
            }
            let mut block = match slots.pop_front() {
                None => break,
                Some(Slot::Local(b)) => *b,
                Some(Slot::Worker(w)) => {
                    let b = match results[w].try_recv() {
                        Ok(b) => b,
                        Err(mpsc::TryRecvError::Disconnected) => return Err(gone()),
                        Err(mpsc::TryRecvError::Empty) => {
                            // Not back yet: examine a later block here
                            // meanwhile, if there is one. (Bounded: a
                            // worker stuck on a slow block must not make
                            // this thread hold the rest of the log.)
                            let held = slots.iter().filter(|s| matches!(s, Slot::Local(_))).count();
                            let later = if eof || held >= LOCAL_MAX {
                                None
                            } else {
                                let b = blocks.next()?;
                                eof = b.is_none();
                                b
                            };
                            if let Some(later) = later {
                                let records = spare_records.pop().unwrap_or_default();
                                slots.push_front(Slot::Worker(w));
                                slots.push_back(Slot::Local(Box::new(examine(
                                    &mut local, later, records, reading, now,
                                ))));
                                continue;
                            }
                            results[w].recv().map_err(|_| gone())?
                        }
                    };
                    in_flight[w] -= 1;
                    b
                }
            };
            position += block.text.len() as u64;
            let absorbed = match (filter.date_detector_mut(), &block.from, &block.to) {
                (Some(d), Some(from), Some(to)) => d.absorb(from, to),
                _ => false,
            };
            if absorbed {
                for rec in block.tested.drain(..) {
                    match rec {
                        Record::Line(i, s, e, ex) => {
                            let line = &block.text[s..e];
                            let oc = filter.settle(ex, line, now);
                            state.outcome(lineno + i + 1, line, oc, out)?;
                        }
                        Record::Quiet {
                            start,
                            count,
                            pref_hits,
                            date,
                        } => {
                            filter.settle_quiet(date.map(|(t, a, b)| (t, &block.text[a..b])));
                            state.quiet(&block.text[start..], count, pref_hits);
                        }
                    }
                }
            } else {
                settle_here(state, filter, &block.text, lineno, out)?;
                let now_at = checkpoint(filter);
                let same = match (&now_at, &synced) {
                    (Some(a), Some(b)) => a.same_decisions(b),
                    _ => false,
                };
                if !same {
                    sync(filter, &mut local)?;
                    synced = now_at;
                }
            }
            lineno += block.lines;
            if let Some(b) = bar {
                b.set_position(position);
            }
            block.tested.clear();
            spare_records.push(block.tested);
            blocks.recycle(block.text.into_bytes());
        }
        Ok(())
    })
}

/// Every line through the filter on this thread.
pub(crate) fn read_in_order(
    state: &mut dyn Settle,
    filter: &mut Filter,
    f: File,
    bar: Option<&indicatif::ProgressBar>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut lineno = 0usize;
    let mut done: u64 = 0;
    let mut err: Option<anyhow::Error> = None;
    crate::for_each_line(f, false, |bytes| {
        lineno += 1;
        done += bytes.len() as u64 + 1;
        if lineno % 65536 == 0 {
            if let Some(b) = bar {
                b.set_position(done);
            }
        }
        let line = crate::decode(bytes);
        match state.line(filter, lineno, &line, out) {
            Ok(()) => true,
            Err(e) => {
                err = Some(e);
                false
            }
        }
    })?;
    err.map_or(Ok(()), Err)
}
