//! The jail's actions thread: starting and stopping the actions, banning
//! the tickets the filter queued (in rounds), unbanning when bans end,
//! reconciling the firewall with the bans, and the fleet's share of it.

use super::*;

impl Jail {
    pub(crate) fn actions_loop(&self) {
        {
            let mut acts = lock(&self.actions);
            for a in acts.iter_mut() {
                self.start_action(a);
            }
        }
        *lock(&self.actions_ready) = true;
        self.actions_ready_cv.notify_all();
        while self.is_alive() {
            if self.idle.load(Ordering::SeqCst) {
                let g = lock(&self.bans);
                let _ = self.wake.wait_timeout(g, Duration::from_millis(500));
                continue;
            }
            // fail2ban's 10 tickets per round keep unbans coming between
            // slow per-address bans; actions that take a round as one batch
            // get large rounds.
            let per_round = if self.all_actions_batch() {
                BATCH_PER_ROUND
            } else {
                BAN_PER_ROUND
            };
            let tickets: Vec<Ticket> = {
                let mut b = lock(&self.bans);
                let n = b.queue.len().min(per_round);
                b.queue.drain(..n).collect()
            };
            if !tickets.is_empty() {
                self.check_ban(tickets);
            }
            self.check_unban();
            if lock(&self.bans).queue.is_empty() && self.reconcile_now() {
                self.reconcile();
            }
            let g = lock(&self.bans);
            if g.queue.is_empty() && self.is_alive() {
                let now = self.ctx.clock.now();
                let mut next = g.bm.next_unban_time();
                if let Some(at) = *lock(&self.reconcile_at) {
                    next = next.min(at);
                }
                let wait = (next - now).clamp(0.01, ACTIONS_MAX_SLEEP);
                let _ = self.wake.wait_timeout(g, Duration::from_secs_f64(wait));
            }
        }
        self.flush_bans(false, true);
        self.stop_actions();
    }

    /// Whether every action took its last round in batches (then rounds
    /// are large, see `BATCH_PER_ROUND`).
    pub(crate) fn all_actions_batch(&self) -> bool {
        lock(&self.actions).iter().all(|a| a.action.batches())
    }

    /// Plans a reconcile `delay` seconds from now, unless one is planned
    /// sooner.
    pub(crate) fn plan_reconcile(&self, delay: f64) {
        let when = self.ctx.clock.now() + delay;
        let mut at = lock(&self.reconcile_at);
        *at = Some(at.map_or(when, |t| t.min(when)));
    }

    /// Whether the planned reconcile is due; takes it off the plan.
    pub(crate) fn reconcile_now(&self) -> bool {
        let mut at = lock(&self.reconcile_at);
        let due = at.is_some_and(|t| self.ctx.clock.now() >= t);
        if due {
            *at = None;
        }
        due
    }

    /// Compares each action's firewall entries with the jail's bans (see
    /// `CommandAction::reconcile`) and logs what it changed.
    pub(crate) fn reconcile(&self) {
        // Addresses only: a full ticket info is built for a ban the
        // firewall lacks, not for the 100,000 it holds.
        let (ids, count, bantime): (HashMap<IpAddr, String>, usize, f64) = {
            let b = lock(&self.bans);
            let ids =
                b.bm.tickets()
                    .filter_map(|t| Some((t.id.parse().ok()?, t.id.clone())))
                    .collect();
            (ids, b.bm.size(), b.bm.ban_time())
        };
        let addrs: Vec<IpAddr> = ids.keys().copied().collect();
        let info_of = |a: IpAddr| {
            let t = lock(&self.bans).bm.get(ids.get(&a)?)?.clone();
            Some(self.round_info(t, bantime))
        };
        let mut acts = lock(&self.actions);
        for a in acts.iter_mut().filter(|a| !a.action.norestored()) {
            let r = a.action.reconcile(&addrs, &info_of);
            if a.action.take_drift() {
                // (its own batches failed: not again at once)
                self.plan_reconcile(RECONCILE_RETRY);
            }
            let Some(r) = r else {
                continue;
            };
            let l = if r.added + r.removed + r.renewed > 0 {
                level::NOTICE
            } else {
                level::INFO
            };
            let renewed = if r.renewed > 0 {
                format!(", {} kernel timeouts renewed", r.renewed)
            } else {
                String::new()
            };
            self.log(
                l,
                "fail2ban.actions",
                format!(
                    "[{}] Reconcile '{}': {} bans of {} were missing from the firewall and are back, {} entries of addresses not banned removed{renewed}",
                    self.name,
                    a.name,
                    r.added,
                    count,
                    r.removed
                ),
            );
        }
    }

    pub(crate) fn start_action(&self, a: &mut ActionEntry) {
        a.needs_start = false;
        if let Err(e) = a.action.start() {
            self.log(
                level::ERROR,
                "fail2ban.actions",
                format!(
                    "Failed to start jail '{}' action '{}': {e}",
                    self.name, a.name
                ),
            );
        }
    }

    /// Starts the actions added since the jail started.
    pub(crate) fn start_pending_actions(&self, acts: &mut [ActionEntry]) {
        for a in acts.iter_mut().filter(|a| a.needs_start) {
            self.start_action(a);
        }
    }

    pub(crate) fn stop_actions(&self) {
        let mut acts = lock(&self.actions);
        for a in acts.iter_mut().rev() {
            self.stop_action(a);
        }
    }

    /// Runs one action's `actionstop`; a failure is logged, as fail2ban
    /// logs it, and the jail goes on.
    pub(crate) fn stop_action(&self, a: &mut ActionEntry) {
        if let Err(e) = a.action.stop() {
            self.log(
                level::ERROR,
                "fail2ban.actions",
                format!(
                    "Failed to stop jail '{}' action '{}': {e}",
                    self.name, a.name
                ),
            );
        }
    }

    /// The tags of one ticket for the actions (fail2ban's `ActionInfo`).
    pub(crate) fn action_info(&self, t: &Ticket, jail_bantime: f64) -> ActionInfo {
        let mut info = id_info(t);
        info.set_time(t.time)
            .set_failures(t.failures as u64)
            .set_bantime(t.ban_time_or(jail_bantime) as i64)
            .set_bancount(t.ban_count as u64)
            .set_matches(&t.matches)
            .set_restored(t.restored);
        for (k, v) in &t.data {
            info.set_data(k, json_to_string(v));
        }
        let (banned, banned_total) = {
            let b = lock(&self.bans);
            (b.bm.size(), b.bm.ban_total())
        };
        let (found, found_total) = {
            let f = lock(&self.fail);
            (f.fm.size(), f.fm.fail_total())
        };
        info.set("jail.banned", banned.to_string())
            .set("jail.banned_total", banned_total.to_string())
            .set("jail.found", found.to_string())
            .set("jail.found_total", found_total.to_string());
        // History-based tags: read lazily, only if an action uses them; one
        // query per scope gives both its tags.
        for (tags, all) in [
            (["ipmatches", "ipfailures"], true),
            (["ipjailmatches", "ipjailfailures"], false),
        ] {
            let ctx = Arc::clone(&self.ctx);
            let id = t.id.clone();
            let jail = self.name.clone();
            info.set_lazy_group(tags, move || {
                let db = ctx.db();
                let m = db
                    .as_ref()
                    .and_then(|db| {
                        db.bans_merged(&id, if all { None } else { Some(&jail) })
                            .ok()
                    })
                    .flatten();
                match m {
                    Some(m) => vec![Some(m.matches.join("\n")), Some(m.failures.to_string())],
                    None => vec![None, None],
                }
            });
        }
        info
    }

    /// A ticket's info for a round of bans or unbans: its address tags
    /// now, the others (counters, matches, captures, history) built from
    /// the ticket only if an action asks for one. The native firewall path
    /// reads the address alone, and a full info per ticket was a third of
    /// restoring 100,000 bans.
    pub(crate) fn round_info(&self, t: Ticket, jail_bantime: f64) -> ActionInfo {
        let mut info = id_info(&t);
        if self.kernel_timeout.load(Ordering::SeqCst) {
            info.set_firewall_timeout(self.firewall_timeout(&t, jail_bantime));
        }
        let me = self.me.clone();
        info.set_rest(move || match me.upgrade() {
            Some(j) => j.action_info(&t, jail_bantime),
            None => id_info(&t),
        });
        info
    }

    /// The kernel-side timeout of a ticket's firewall entry: the seconds
    /// left of its ban and a margin of a tenth of them (1 s to 60 s), so
    /// that the daemon's own unban comes first while it runs; `None` for a
    /// permanent ban.
    pub(crate) fn firewall_timeout(&self, t: &Ticket, jail_bantime: f64) -> Option<u64> {
        if is_permanent(t.ban_time_or(jail_bantime)) {
            return None;
        }
        let left = (t.end_of_ban(jail_bantime) - self.ctx.clock.now()).max(0.0);
        Some((left + (left / 10.0).clamp(1.0, 60.0)).ceil() as u64)
    }

    /// Waits (while the jail runs) until the actions have been started.
    pub(crate) fn wait_actions_ready(&self) {
        let mut ready = lock(&self.actions_ready);
        while !*ready && self.is_alive() {
            ready = self
                .actions_ready_cv
                .wait_timeout(ready, Duration::from_millis(100))
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Bans tickets (fail2ban's `__checkBan`); returns the number of new
    /// bans.
    pub(crate) fn check_ban(&self, tickets: Vec<Ticket>) -> usize {
        self.wait_actions_ready();
        let mut cnt = 0;
        // The new bans of this call, applied together once all are logged
        // and stored: one round per action (see gaoler-action's `batch`).
        let mut round: Vec<(String, ActionInfo, bool)> = Vec::new();
        let mut to_store: Vec<Ticket> = Vec::new();
        let mut queued: Vec<Instant> = Vec::new();
        // This host's own new bans, for the fleet.
        let publisher = self.fleet_publisher();
        let mut to_publish = Vec::new();
        for ticket in tickets {
            let now = self.ctx.clock.now();
            let id = ticket.id.clone();
            let queued_at = lock(&self.queued_at).remove(&id);
            let restored = ticket.restored;
            let new_time = ticket.time;
            let note = fleet::origin_note(&ticket);
            let from_fleet = !note.is_empty();
            let (outcome, bantime) = {
                let mut b = lock(&self.bans);
                (b.bm.add_ban_ticket(ticket, now), b.bm.ban_time())
            };
            match outcome {
                AddBan::Added => {
                    cnt += 1;
                    // (kept back until the round's actions run: a write
                    // per line was a third of restoring 100,000 bans)
                    self.ctx.logger.log_deferred(
                        level::NOTICE,
                        "fail2ban.actions",
                        &format!(
                            "[{}] {}Ban {id}{note}",
                            self.name,
                            if restored { "Restore " } else { "" }
                        ),
                    );
                    let Some(mut t) = lock(&self.bans).bm.get(&id).cloned() else {
                        continue;
                    };
                    if from_fleet {
                        // Stored to survive a restart, never published
                        // again (no echo), no increment: the ban is the
                        // one the other host decided.
                        if !restored && t.end_of_ban(bantime) >= now {
                            to_store.push(t.clone());
                        }
                    } else if !restored {
                        self.ban_found(&mut t, bantime, now, &mut to_store);
                        if publisher.is_some() && !t.restored && t.end_of_ban(bantime) >= now {
                            to_publish.push(fleet::row_of(
                                &self.name,
                                &t,
                                bantime,
                                gaoler_fleet::Kind::Ban,
                                false,
                            ));
                        }
                        if let Some(bt) = lock(&self.bans).bm.get_mut(&id) {
                            bt.ban_time = t.ban_time;
                            bt.ban_count = t.ban_count;
                            bt.restored = t.restored;
                        }
                    }
                    let restored = t.restored;
                    round.push((id, self.round_info(t, bantime), restored));
                    queued.extend(queued_at);
                }
                AddBan::Expired => self.log(
                    if from_fleet {
                        level::DEBUG
                    } else {
                        level::INFO
                    },
                    "fail2ban.actions",
                    format!("[{}] Ignore {id}, expired bantime{note}", self.name),
                ),
                // The fleet's copy of a ban in force here: nothing to do.
                AddBan::AlreadyBanned { .. } if from_fleet => self.log(
                    level::DEBUG,
                    "fail2ban.actions",
                    format!("[{}] {id} already banned{note}", self.name),
                ),
                AddBan::AlreadyBanned { .. } => {
                    let since = lock(&self.bans)
                        .bm
                        .get(&id)
                        .map_or(0.0, |old| new_time - old.time);
                    let l = match already_banned_level(since) {
                        AlreadyBannedLevel::Debug => level::DEBUG,
                        AlreadyBannedLevel::Notice => level::NOTICE,
                        AlreadyBannedLevel::Warning => level::WARNING,
                    };
                    self.log(
                        l,
                        "fail2ban.actions",
                        format!("[{}] {id} already banned", self.name),
                    );
                    // Long after the ban the address should not get
                    // through: check that the firewall still has it
                    // (at most every 3 s).
                    if since > 3.0 {
                        self.consistency_check(now);
                    }
                }
            }
        }
        if !to_store.is_empty() {
            let bantime = lock(&self.bans).bm.ban_time();
            if let Some(db) = self.ctx.db().as_ref() {
                if let Err(e) = db.add_bans(&self.name, &to_store, bantime) {
                    self.log(
                        level::ERROR,
                        "fail2ban.database",
                        format!("[{}] cannot store {} bans: {e}", self.name, to_store.len()),
                    );
                }
            }
        }
        self.ctx.logger.flush_deferred();
        if let Some(p) = publisher {
            p.publish(to_publish);
        }
        if !round.is_empty() {
            self.ban_round(&round);
            let latency = self
                .ctx
                .ban_latency
                .with_label_values(&[self.name.as_str()]);
            for at in queued {
                latency.observe(at.elapsed().as_secs_f64());
            }
        }
        cnt
    }

    /// fail2ban's ERROR for each ticket of a round an action failed on.
    pub(crate) fn log_action_failures(
        &self,
        verb: &str,
        action: &str,
        infos: &[&ActionInfo],
        results: Vec<Result<(), gaoler_action::ActionError>>,
    ) {
        for (info, r) in infos.iter().zip(results) {
            if let Err(e) = r {
                self.action_errors.fetch_add(1, Ordering::Relaxed);
                self.log(
                    level::ERROR,
                    "fail2ban.actions",
                    format!(
                        "Failed to execute {verb} jail '{}' action '{action}' info '{info:?}': {e}",
                        self.name
                    ),
                );
            }
        }
    }

    /// Runs every action's ban for a round of new bans, then marks them
    /// banned.
    pub(crate) fn ban_round(&self, round: &[(String, ActionInfo, bool)]) {
        {
            let mut acts = lock(&self.actions);
            self.start_pending_actions(&mut acts);
            for a in acts.iter_mut() {
                let infos: Vec<&ActionInfo> = round
                    .iter()
                    .filter(|(_, _, restored)| !(*restored && a.action.norestored()))
                    .map(|(_, info, _)| info)
                    .collect();
                let results = a.action.ban_round(&infos);
                let drift = a.action.take_drift();
                if results.iter().any(Result::is_err) {
                    // The bans stay (in the jail and the database); the
                    // reconcile puts them in once the firewall takes them.
                    self.plan_reconcile(RECONCILE_RETRY);
                } else if drift {
                    // The firewall was repaired on the way (a table or
                    // chain deleted behind our back): the bans it held
                    // before go back in now.
                    self.plan_reconcile(0.0);
                }
                self.log_action_failures("ban", &a.name, &infos, results);
            }
        }
        let mut b = lock(&self.bans);
        for (id, _, _) in round {
            if let Some(bt) = b.bm.get_mut(id) {
                bt.banned = true;
            }
        }
    }

    pub(crate) fn consistency_check(&self, now: f64) {
        {
            let mut last = lock(&self.last_check);
            if now <= *last + 3.0 {
                return;
            }
            *last = now;
        }
        let mut acts = lock(&self.actions);
        for a in acts.iter_mut() {
            if let Err(e) = a.action.consistency_check() {
                self.log(
                    level::ERROR,
                    "fail2ban.actions",
                    format!(
                        "[{}] consistency check of '{}' failed: {e}",
                        self.name, a.name
                    ),
                );
            }
        }
    }

    /// The observer's `banFound`: bantime.increment, then the ticket goes
    /// to `to_store` for the round's database transaction. Works on a copy
    /// of the ticket, written back by the caller.
    pub(crate) fn ban_found(
        &self,
        t: &mut Ticket,
        bantime: f64,
        now: f64,
        to_store: &mut Vec<Ticket>,
    ) {
        let inc = lock(&self.inc).clone();
        let db = self.ctx.db();
        let Some(db) = db.as_ref() else { return };
        if inc.enabled && !is_permanent(t.ban_time_or(bantime)) {
            let history = self.history_in(db, &t.id, inc.overall_jails);
            let mut rng = || rand_unit();
            match inc.apply_to_ban(t, bantime, history.as_ref(), &mut rng) {
                Ok(o) if o.increased => {
                    let end = t.end_of_ban(bantime);
                    self.log(
                        level::NOTICE,
                        "fail2ban.observer",
                        format!(
                            "[{}] Increase Ban {} ({} # {} -> {})",
                            self.name,
                            t.id,
                            t.ban_count,
                            gaoler_py::time::seconds2str(o.new_ban_time),
                            time2str(end)
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => self.log(
                    level::ERROR,
                    "fail2ban.observer",
                    format!("[{}] bantime.increment failed: {e}", self.name),
                ),
            }
        }
        if t.restored || t.end_of_ban(bantime) < now {
            return;
        }
        to_store.push(t.clone());
    }

    pub(crate) fn check_unban(&self) {
        let now = self.ctx.clock.now();
        let per_check = if self.all_actions_batch() {
            BATCH_PER_ROUND
        } else {
            UNBAN_PER_CHECK
        };
        let (list, bantime) = {
            let mut b = lock(&self.bans);
            (b.bm.unban_list(now, per_check), b.bm.ban_time())
        };
        self.publish_unbans(&list, bantime, false);
        self.unban_tickets(&list, bantime, None, Some("Unban"));
    }

    /// The publisher, when this jail publishes and the fleet is on.
    pub(crate) fn fleet_publisher(&self) -> Option<gaoler_fleet::Publisher> {
        if !lock(&self.fleet).mode.publishes() {
            return None;
        }
        lock(&self.ctx.fleet).clone()
    }

    /// Publishes the end of this host's own bans among `list` (the fleet's
    /// bans end here without a word: no echo).
    pub(crate) fn publish_unbans(&self, list: &[Ticket], bantime: f64, manual: bool) {
        let Some(p) = self.fleet_publisher() else {
            return;
        };
        let rows = list
            .iter()
            .filter(|t| origin_of(t).is_none())
            .map(|t| fleet::row_of(&self.name, t, bantime, gaoler_fleet::Kind::Unban, manual))
            .collect();
        p.publish(rows);
    }

    /// Runs the actions' unban for one ticket (all actions, or the given
    /// indexes), logging `[J] <verb> <id>` if `verb` is given.
    pub(crate) fn unban_ticket(
        &self,
        t: &Ticket,
        bantime: f64,
        only: Option<&[usize]>,
        verb: Option<&str>,
    ) {
        self.unban_tickets(std::slice::from_ref(t), bantime, only, verb);
    }

    /// [`Jail::unban_ticket`] for a round of tickets: each is logged, then
    /// each action unbans them all together.
    pub(crate) fn unban_tickets(
        &self,
        list: &[Ticket],
        bantime: f64,
        only: Option<&[usize]>,
        verb: Option<&str>,
    ) {
        if list.is_empty() {
            return;
        }
        if let Some(v) = verb {
            for t in list {
                self.ctx.logger.log_deferred(
                    level::NOTICE,
                    "fail2ban.actions",
                    &format!("[{}] {v} {}", self.name, t.id),
                );
            }
            self.ctx.logger.flush_deferred();
        }
        let infos: Vec<ActionInfo> = list
            .iter()
            .map(|t| self.round_info(t.clone(), bantime))
            .collect();
        let refs: Vec<&ActionInfo> = infos.iter().collect();
        let mut acts = lock(&self.actions);
        for (i, a) in acts.iter_mut().enumerate() {
            if only.is_some_and(|o| !o.contains(&i)) {
                continue;
            }
            let results = a.action.unban_round(&refs);
            if a.action.take_drift() {
                // (as in `ban_round`: what a repair lost goes back in)
                self.plan_reconcile(0.0);
            }
            self.log_action_failures("unban", &a.name, &refs, results);
        }
    }

    /// Flushes all bans (jail stop, `unban --all`): `actionflush` where an
    /// action has one, per-ticket unban for the others. Returns the count.
    pub(crate) fn flush_bans(&self, db: bool, stop: bool) -> usize {
        let (list, bantime) = {
            let mut b = lock(&self.bans);
            (b.bm.flush(), b.bm.ban_time())
        };
        let unban_with = self.flush_actions(None);
        if db {
            if let Some(db) = self.ctx.db().as_ref() {
                let _ = db.del_ban(&self.name, &[]);
            }
        }
        let verb = if stop { "Repeal Ban" } else { "Unban" };
        self.unban_tickets(&list, bantime, Some(&unban_with), Some(verb));
        list.len()
    }

    /// Runs `actionflush` of the selected actions (all if `None`) and
    /// returns the indexes of those that still need per-ticket unbans.
    pub(crate) fn flush_actions(&self, only: Option<&BTreeSet<String>>) -> Vec<usize> {
        let mut unban_with = Vec::new();
        let mut acts = lock(&self.actions);
        for (i, a) in acts.iter_mut().enumerate() {
            if only.is_some_and(|o| !o.contains(&a.name)) {
                continue;
            }
            if a.action.has_flush() {
                self.log(
                    level::NOTICE,
                    "fail2ban.actions",
                    format!("[{}] Flush ticket(s) with {}", self.name, a.name),
                );
                match a.action.flush() {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => self.log(
                        level::ERROR,
                        "fail2ban.actions",
                        format!(
                            "Failed to flush bans in jail '{}' action '{}': {e}",
                            self.name, a.name
                        ),
                    ),
                }
            }
            unban_with.push(i);
        }
        unban_with
    }
}
