//! The jail's filter thread: reading its logs (files, or the journal),
//! keeping their positions, and handing each batch of lines to the filter
//! and its failures to the decision core.

use super::*;

impl Jail {
    pub(crate) fn filter_loop(self: Arc<Self>) {
        if self.is_journal() {
            self.journal_loop();
        } else {
            self.file_loop();
        }
    }

    pub(crate) fn build_filter(&self, conf: &FilterConf) -> Option<Filter> {
        match Filter::new(conf.spec()) {
            Ok(f) => Some(f),
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] Unable to compile filter: {e}", self.name),
                );
                None
            }
        }
    }

    pub(crate) fn stored_positions(&self) -> Vec<Position> {
        let db = self.ctx.db();
        let Some(db) = db.as_ref() else {
            return Vec::new();
        };
        let paths = db.log_paths(Some(&self.name)).unwrap_or_default();
        paths
            .into_iter()
            .filter_map(|p| {
                let pos = db.log_position(&self.name, &p).ok().flatten()?;
                Some(Position {
                    path: PathBuf::from(&p),
                    first_line_hash: pos.hash.unwrap_or_default(),
                    pos: pos.pos.max(0.0) as u64,
                })
            })
            .collect()
    }

    /// Write the positions that moved since the last save (`saved`): an idle
    /// jail writes nothing.
    pub(crate) fn save_positions(
        &self,
        src: &FileSource,
        saved: &mut Vec<gaoler_source::Position>,
    ) {
        let mut now = src.positions();
        *lock(&self.read_positions) = now.iter().map(|p| (p.path.clone(), p.pos)).collect();
        let db = self.ctx.db();
        let Some(db) = db.as_ref() else { return };
        let mut failed = Vec::new();
        for p in now.iter().filter(|p| !saved.contains(p)) {
            let path = p.path.to_string_lossy();
            if let Err(e) = db.update_log(&self.name, &path, p.pos, Some(&p.first_line_hash)) {
                failed.push(p.clone());
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot save position of {path}: {e}", self.name),
                );
            }
        }
        // What failed is tried again next time.
        now.retain(|p| !failed.contains(p));
        *saved = now;
    }

    pub(crate) fn sync_paths(
        &self,
        src: &mut FileSource,
        applied: &mut Vec<String>,
        want: &[(String, StartAt)],
    ) {
        for old in applied.clone() {
            if !want.iter().any(|(p, _)| *p == old) {
                src.remove_path(&old);
                applied.retain(|p| *p != old);
                self.log(
                    level::INFO,
                    "fail2ban.filter",
                    format!("Removed logfile: '{old}'"),
                );
            }
        }
        let stored = self.stored_positions();
        for (p, start) in want {
            if applied.contains(p) {
                continue;
            }
            match src.add_path(p, *start, &stored) {
                Ok(added) => {
                    let positions = src.positions();
                    for a in added {
                        let (pos, hash) = positions
                            .iter()
                            .find(|x| x.path == a)
                            .map(|x| (x.pos, x.first_line_hash.clone()))
                            .unwrap_or((0, String::new()));
                        self.log(
                            level::INFO,
                            "fail2ban.filter",
                            format!(
                                "Added logfile: '{}' (pos = {pos}, hash = {hash})",
                                a.display()
                            ),
                        );
                    }
                    if let Some(db) = self.ctx.db().as_ref() {
                        for x in src.positions().iter().filter(|x| Path::new(p) == x.path) {
                            let _ = db.add_log(
                                &self.name,
                                &x.path.to_string_lossy(),
                                x.pos,
                                Some(&x.first_line_hash),
                            );
                        }
                    }
                }
                Err(e) => self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot watch {p}: {e}", self.name),
                ),
            }
            applied.push(p.clone());
        }
        *lock(&self.files) = src
            .paths()
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
    }

    pub(crate) fn file_loop(&self) {
        let backend =
            gaoler_source::Backend::parse(&self.backend).unwrap_or(gaoler_source::Backend::Polling);
        let conf = lock(&self.conf).clone();
        let mut src = match FileSource::new(SourceOptions {
            backend,
            encoding: conf.encoding.clone(),
            ..SourceOptions::default()
        }) {
            Ok(s) => s,
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot create log source: {e}", self.name),
                );
                return;
            }
        };
        // Head start without a stored position: skip to now - findtime.
        {
            let findtime = conf.findtime;
            let clock = Arc::clone(&self.ctx.clock);
            let mut dd =
                gaoler_datedetector::DateDetector::new(conf.filter.datepattern.as_deref()).ok();
            src.set_head_seek(Some(Box::new(move |probe| {
                let dd = dd.as_mut()?;
                let now = clock.now();
                gaoler_source::seek_to_time(probe, now - findtime, |line| {
                    dd.find(line, now).and_then(|h| h.time)
                })
                .ok()
            })));
        }
        let mut generation = conf.generation;
        let mut filter = self.build_filter(&conf);
        let mut applied = Vec::new();
        self.sync_paths(&mut src, &mut applied, &conf.logpaths);
        let mut last_save = Instant::now();
        let mut saved = Vec::new();
        let mut encoding = conf.encoding.clone();
        while self.is_alive() {
            // Idle includes a reload in progress: the settings are being
            // replaced, so neither read lines nor re-sync paths until the
            // reload commits (a path removed and re-added mid-reload would
            // lose its position).
            if self.idle.load(Ordering::SeqCst) {
                std::thread::sleep(FILTER_POLL);
                continue;
            }
            {
                let c = lock(&self.conf);
                if c.generation != generation {
                    let c = c.clone();
                    generation = c.generation;
                    filter = self.build_filter(&c);
                    if c.encoding != encoding {
                        encoding = c.encoding.clone();
                        if let Err(e) = src.set_encoding(&encoding) {
                            self.log(level::ERROR, "fail2ban.filter", format!("{e}"));
                        }
                    }
                    self.sync_paths(&mut src, &mut applied, &c.logpaths);
                }
            }
            let lines = match src.poll(FILTER_POLL) {
                Ok(l) => l,
                Err(e) => {
                    self.source_failed(&e);
                    continue;
                }
            };
            if let Some(f) = filter.as_mut() {
                let batch = self.batch();
                // One clock reading per batch: a poll returns what was
                // there to read at once (at most `max_batch` lines, a few
                // ms of work), and reading the clock per line cost 2 % of
                // the ingest of an address spray.
                let now = self.ctx.clock.now();
                let mut counts = LineCounts::default();
                for line in &lines {
                    if !self.is_alive() {
                        break;
                    }
                    f.set_in_operation(!line.catching_up);
                    let out = f.process_line_detailed(&line.text, now);
                    self.note_unevaluated(&out);
                    counts.add(&out);
                    self.handle_failures(out.failures, now, &batch);
                }
                self.count_lines(counts);
                self.ctx.logger.flush_deferred();
            }
            if last_save.elapsed() >= POSITION_INTERVAL {
                self.save_positions(&src, &mut saved);
                last_save = Instant::now();
                self.service_idle();
            }
        }
        self.save_positions(&src, &mut saved);
    }

    pub(crate) fn journal_loop(&self) {
        let conf = lock(&self.conf).clone();
        let findtime = Duration::from_secs_f64(conf.findtime.max(0.0));
        let saved = self
            .ctx
            .db()
            .as_ref()
            .and_then(|db| db.journal_position(&self.name).ok().flatten());
        let mut opts = JournalOptions::new(JournalStart::resume(saved, findtime));
        opts.matches = conf.journalmatches.clone();
        if let Some(j) = &self.ctx.journalctl {
            opts.journalctl = j.clone();
        }
        opts.encoding = conf.encoding.clone();
        opts.not_before = std::time::SystemTime::now().checked_sub(findtime);
        let (_, bopts) = crate::split_options(&self.backend);
        match gaoler_source::journal_args_from_options(&bopts) {
            Ok(a) => opts.extra_args = a,
            Err(e) => self.log(
                level::ERROR,
                "fail2ban.filter",
                format!("[{}] {e}", self.name),
            ),
        }
        let mut src = match JournalSource::spawn(opts) {
            Ok(s) => s,
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot read the journal: {e}", self.name),
                );
                return;
            }
        };
        let mut generation = conf.generation;
        let mut filter = self.build_filter(&conf);
        let mut last_save = Instant::now();
        while self.is_alive() {
            {
                let c = lock(&self.conf);
                if c.generation != generation {
                    generation = c.generation;
                    let c = c.clone();
                    filter = self.build_filter(&c);
                }
            }
            let lines = match src.poll(FILTER_POLL) {
                Ok(l) => l,
                Err(e) => {
                    self.source_failed(&e);
                    continue;
                }
            };
            if self.idle.load(Ordering::SeqCst) {
                continue;
            }
            if let Some(f) = filter.as_mut() {
                let batch = self.batch();
                let mut counts = LineCounts::default();
                for line in lines {
                    let now = self.ctx.clock.now();
                    f.set_in_operation(!line.catching_up);
                    let tuple = TupleLine {
                        prefix: String::new(),
                        date: format!("{} ", line.iso_time),
                        suffix: line.text,
                    };
                    let out = f.process_line_with_date_detailed(tuple, line.time, now);
                    self.note_unevaluated(&out);
                    counts.add(&out);
                    self.handle_failures(out.failures, now, &batch);
                }
                self.count_lines(counts);
                self.ctx.logger.flush_deferred();
            }
            if last_save.elapsed() >= POSITION_INTERVAL {
                self.save_journal_position(&src);
                last_save = Instant::now();
                self.service_idle();
            }
        }
        self.save_journal_position(&src);
        src.stop();
    }

    pub(crate) fn save_journal_position(&self, src: &JournalSource) {
        if let (Some(p), Some(db)) = (src.position(), self.ctx.db().as_ref()) {
            let _ = db.update_journal(&self.name, p.time, &p.iso_time);
        }
    }

    /// Count a line the filter could not evaluate; the jail's first one is
    /// logged with the reason (an attacker can send many).
    pub(crate) fn note_unevaluated(&self, out: &gaoler_filter::LineOutcome) {
        let Some(reason) = &out.unevaluated else {
            return;
        };
        if self.unevaluated.fetch_add(1, Ordering::Relaxed) == 0 {
            self.log(
                level::ERROR,
                "fail2ban.filter",
                format!(
                    "[{}] A line could not be evaluated: {reason}; further ones are only \
                     counted (get {} unevaluated)",
                    self.name, self.name
                ),
            );
        }
    }

    /// Lines no regex could finish its search on, since the jail started.
    /// Adds a batch's line counts to the jail's (one atomic add each per
    /// batch, not per line).
    pub(crate) fn count_lines(&self, c: LineCounts) {
        for (total, n) in self.lines.iter().zip([c.read, c.matched, c.ignored]) {
            if n > 0 {
                total.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn unevaluated(&self) -> u64 {
        self.unevaluated.load(Ordering::Relaxed)
    }

    /// The settings of the next batch of lines.
    pub(crate) fn batch(&self) -> Batch {
        let cmd = lock(&self.conf).ignorecommand.clone();
        Batch {
            ignorecommand: (!cmd.trim().is_empty()).then_some(cmd),
            inc: self.increment(),
        }
    }

    /// The cleanup when no line comes (fail2ban's every-10-polls service):
    /// expired failures go, and their memory with them.
    pub(crate) fn service_idle(&self) {
        let cleaned = lock(&self.fail)
            .fm
            .service(self.ctx.clock.now(), false)
            .unwrap_or(0);
        self.after_cleanup(cleaned);
    }

    pub(crate) fn handle_failures(
        &self,
        fails: Vec<gaoler_filter::Failure>,
        now: f64,
        batch: &Batch,
    ) {
        for f in &fails {
            if !f.is_real() {
                continue;
            }
            let Some(id) = f.id.as_ref() else { continue };
            self.add_filter_failure(f, id, now, batch);
        }
    }

    // ------------------------------------------------------------------
    // actions thread
}
