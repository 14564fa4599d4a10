//! What the transmitter asks of a jail: manual bans and unbans, the
//! fleet's bans, actions added and removed, reload, status and metrics.

use super::*;

impl Jail {
    /// `set J banip ip...`: bans at once (no ignore check); returns the
    /// number of new bans.
    pub(crate) fn ban_ips(&self, ips: &[String]) -> usize {
        let now = self.ctx.clock.now();
        let tickets = ips
            .iter()
            .map(|ip| Ticket::manual(Addr::parse(ip).to_string(), now))
            .collect();
        self.check_ban(tickets)
    }

    // ------------------------------------------------------------------
    // fleet (gaoler-fleet; see crate::fleet)

    /// `fleet`, `fleetjails`, `fleetcount` as set.
    pub(crate) fn fleet_settings(&self) -> gaoler_fleet::JailFleet {
        lock(&self.fleet).clone()
    }

    /// Changes the jail's fleet settings.
    pub(crate) fn update_fleet(&self, f: impl FnOnce(&mut gaoler_fleet::JailFleet)) {
        f(&mut lock(&self.fleet));
    }

    /// A ban another host published, applied through this jail's own
    /// actions: queued for the actions thread like any ban, which logs
    /// `[J] Ban <ip> (from fleet host H, jail J2)`, stores it and never
    /// publishes it. An address this jail ignores (`ignoreip`,
    /// `ignoreself`, `ignorecommand`) is refused with a WARNING. An
    /// address banned here already is not banned again (the actions
    /// thread sees it is).
    pub(crate) fn fleet_ban(&self, rec: &gaoler_fleet::Received) {
        if !self.is_alive() {
            return;
        }
        let now = self.ctx.clock.now();
        let id = rec.addr.to_string();
        if let Some(r) = self.ignore_reason(&id, None, now) {
            self.log(
                level::WARNING,
                "fail2ban.fleet",
                format!(
                    "[{}] Refused fleet ban of {id} from host {} (jail {}): ignored by {r}",
                    self.name, rec.origin, rec.row.jail
                ),
            );
            return;
        }
        // The ban count is this host's own (the BanManager adds this ban
        // to it): the other host's count is its history, which
        // `fleetcount = fleet` reads from the fleet's copy.
        let local_count = self
            .ctx
            .db()
            .as_ref()
            .and_then(|db| db.ban_history(&id, Some(&self.name), false).ok().flatten())
            .map_or(0, |h| h.ban_count);
        let mut t = Ticket::new(id, rec.row.time_of_ban).with_matches(rec.row.matches.clone());
        t.ban_time = Some(rec.row.ban_time);
        t.ban_count = local_count;
        t.failures = rec.row.failures;
        t.data
            .insert(fleet::ORIGIN_HOST.into(), Json::String(rec.origin.clone()));
        t.data.insert(
            fleet::ORIGIN_JAIL.into(),
            Json::String(rec.row.jail.clone()),
        );
        self.queue_ticket(t);
    }

    /// An unban another host published: lifts this jail's ban of the
    /// address if that ban came from the fleet, from that host
    /// ([`gaoler_fleet::rules::lifts`]); a ban this host decided itself
    /// stays.
    pub(crate) fn fleet_unban(&self, rec: &gaoler_fleet::Received) {
        let id = rec.addr.to_string();
        let from = rec.origin.as_str();
        let lifted = |t: &Ticket| gaoler_fleet::rules::lifts(origin_of(t).map(|(h, _)| h), from);
        // (a ban of the same origin still queued goes too)
        lock(&self.bans)
            .queue
            .retain(|t| !(t.id == id && lifted(t)));
        let (current, bantime) = {
            let b = lock(&self.bans);
            (b.bm.get(&id).cloned(), b.bm.ban_time())
        };
        let Some(current) = current else { return };
        if !lifted(&current) {
            self.log(
                level::DEBUG,
                "fail2ban.fleet",
                format!(
                    "[{}] {id} stays banned: its ban here did not come from fleet host {from}",
                    self.name
                ),
            );
            return;
        }
        let removed = lock(&self.bans).bm.remove_banned(&id, &SystemResolver);
        if removed.is_empty() {
            return;
        }
        if let Some(db) = self.ctx.db().as_ref() {
            let _ = db.del_ban(&self.name, &[id.as_str()]);
        }
        self.log(
            level::NOTICE,
            "fail2ban.actions",
            format!(
                "[{}] Unban {id} (from fleet host {from}, jail {})",
                self.name, rec.row.jail
            ),
        );
        self.unban_tickets(&removed, bantime, None, None);
    }

    /// Another host's ban counted as one failure here (`fleetcount =
    /// fleet` in a jail that does not apply the fleet's bans: recidive).
    pub(crate) fn fleet_failure(&self, rec: &gaoler_fleet::Received) {
        if !self.is_alive() {
            return;
        }
        let now = self.ctx.clock.now();
        let t = Ticket::new(rec.addr.to_string(), rec.row.time_of_ban.min(now));
        self.add_failure_ticket(t, 1, now);
    }

    /// `set J unbanip` / `unban`: removes the bans (and their database
    /// rows). Addresses that are not banned are an error unless
    /// `if_exists`.
    pub(crate) fn unban_ips(&self, ips: &[String], if_exists: bool) -> Result<usize, Vec<String>> {
        let mut cnt = 0;
        let mut missed = Vec::new();
        let bantime = lock(&self.bans).bm.ban_time();
        for ip in ips {
            let removed = lock(&self.bans).bm.remove_banned(ip, &SystemResolver);
            if let Some(db) = self.ctx.db().as_ref() {
                let mut ids: Vec<&str> = vec![ip.as_str()];
                ids.extend(removed.iter().map(|t| t.id.as_str()));
                let _ = db.del_ban(&self.name, &ids);
            }
            if removed.is_empty() {
                self.log(
                    level::MSG,
                    "fail2ban.actions",
                    format!("{ip} is not banned"),
                );
                if !if_exists {
                    missed.push(ip.clone());
                }
                continue;
            }
            self.publish_unbans(&removed, bantime, true);
            for t in &removed {
                self.unban_ticket(t, bantime, None, Some("Unban"));
                cnt += 1;
            }
        }
        if missed.is_empty() {
            Ok(cnt)
        } else {
            Err(missed)
        }
    }

    // ------------------------------------------------------------------
    // actions management

    /// `set J addaction A`: creates a command action from its name; the
    /// properties follow with `multi-set J action A ...`. A Python action
    /// is refused (logged, and reported to the caller), the jail keeps its
    /// other actions.
    /// `actionengine`: `auto` (batches where the commands allow, see
    /// gaoler-action's `batch`) or `shell` (fail2ban's per-address runs).
    pub(crate) fn set_action_engine(&self, engine: &str) -> Result<(), String> {
        let on = CommandAction::batching_for_engine(engine)?;
        self.batching.store(on, Ordering::SeqCst);
        for a in lock(&self.actions).iter_mut() {
            a.action.set_batching(on);
        }
        Ok(())
    }

    /// `kerneltimeout`: bans carry kernel-side timeouts (nftables sets
    /// made from now on, ipsets) so that they lapse even if the daemon is
    /// dead. Switched on for a running jail, the bans already in get theirs
    /// at the reconcile this plans.
    pub(crate) fn set_kernel_timeout(&self, on: bool) {
        self.kernel_timeout.store(on, Ordering::SeqCst);
        for a in lock(&self.actions).iter_mut() {
            a.action.set_kernel_timeouts(on);
        }
        self.ban_time_changed();
    }

    pub(crate) fn kernel_timeout(&self) -> bool {
        self.kernel_timeout.load(Ordering::SeqCst)
    }

    /// After `set J bantime`: with kernel-side timeouts, the entries
    /// already in would lapse by the old ban time; a reconcile renews them.
    pub(crate) fn ban_time_changed(&self) {
        if self.kernel_timeout() && self.started.load(Ordering::SeqCst) {
            self.plan_reconcile(0.0);
            self.wake.notify_all();
        }
    }

    pub(crate) fn action_engine(&self) -> &'static str {
        if self.batching.load(Ordering::SeqCst) {
            "auto"
        } else {
            "shell"
        }
    }

    pub(crate) fn add_action(&self, name: &str) -> Result<(), String> {
        if let Some(r) = lock(&self.reload).as_mut() {
            if r.stale_actions.remove(name) {
                // Same action named again by a reload: keep its identity.
                return Ok(());
            }
        }
        let spec = ActionSpec {
            jail: self.name.clone(),
            name: name.to_owned(),
            properties: Vec::new(),
        };
        match CommandAction::new(&spec) {
            Ok(mut a) => {
                let jail = self.name.clone();
                a.set_batching(self.batching.load(Ordering::SeqCst));
                a.set_kernel_timeouts(self.kernel_timeout());
                a.set_info_factory(Arc::new(move || {
                    ActionInfo::new().with("name", jail.clone())
                }));
                let mut acts = lock(&self.actions);
                if acts.iter().any(|e| e.name == name) {
                    return Err(format!("Action {name} already exists"));
                }
                // Once the actions thread has started the actions, a new
                // one has to be started by us, after its properties came.
                let needs_start = *lock(&self.actions_ready) && self.is_alive();
                acts.push(ActionEntry {
                    name: name.to_owned(),
                    action: a,
                    needs_start,
                });
                Ok(())
            }
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.actions",
                    format!("Failed to add action to jail '{}': {e}", self.name),
                );
                Err(e.to_string())
            }
        }
    }

    /// `set J delaction A`: flush/unban its bans, stop it, drop it.
    pub(crate) fn del_action(&self, name: &str) -> bool {
        let only: BTreeSet<String> = [name.to_owned()].into();
        self.retire_actions(&only)
    }

    /// Unbans the current tickets with the given actions (flush where
    /// possible), stops and removes them. Bans stay in the BanManager.
    pub(crate) fn retire_actions(&self, names: &BTreeSet<String>) -> bool {
        if names.is_empty() {
            return false;
        }
        if self.is_alive() {
            let unban_with = self.flush_actions(Some(names));
            let (tickets, bantime) = {
                let b = lock(&self.bans);
                (b.bm.tickets().cloned().collect::<Vec<_>>(), b.bm.ban_time())
            };
            for t in &tickets {
                self.unban_ticket(t, bantime, Some(&unban_with), None);
            }
        }
        let mut acts = lock(&self.actions);
        let mut found = false;
        let mut keep = Vec::new();
        for mut a in acts.drain(..) {
            if names.contains(&a.name) {
                found = true;
                if self.is_alive() {
                    self.stop_action(&mut a);
                }
            } else {
                keep.push(a);
            }
        }
        *acts = keep;
        found
    }

    pub(crate) fn with_action<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut CommandAction) -> R,
    ) -> Option<R> {
        let mut acts = lock(&self.actions);
        acts.iter_mut()
            .find(|a| a.name == name)
            .map(|a| f(&mut a.action))
    }

    pub(crate) fn action_names(&self) -> Vec<String> {
        lock(&self.actions).iter().map(|a| a.name.clone()).collect()
    }

    // ------------------------------------------------------------------
    // reload

    /// Reload begin: the filter lists are cleared (the stream sets them
    /// again), actions are marked stale until named again.
    pub(crate) fn reload_begin(&self) {
        self.idle.store(true, Ordering::SeqCst);
        {
            let mut c = lock(&self.conf);
            c.filter.failregex.clear();
            c.filter.ignoreregex.clear();
            c.filter.prefregex = None;
            c.logpaths.clear();
            c.journalmatches.clear();
        }
        lock(&self.fail).ignore.clear();
        // (the stream sets them again; an option taken out of the
        // configuration goes back to its default)
        *lock(&self.fleet) = gaoler_fleet::JailFleet {
            name: self.name.clone(),
            ..Default::default()
        };
        let stale = self.action_names().into_iter().collect();
        *lock(&self.reload) = Some(ReloadState {
            stale_actions: stale,
        });
    }

    pub(crate) fn in_reload(&self) -> bool {
        lock(&self.reload).is_some()
    }

    /// Reload commit: stale actions go, kept ones run `actionreload`.
    pub(crate) fn reload_end(&self) {
        let Some(state) = lock(&self.reload).take() else {
            return;
        };
        self.retire_actions(&state.stale_actions);
        if self.is_alive() {
            let mut acts = lock(&self.actions);
            // New actions are started, the kept ones reloaded.
            let fresh: Vec<bool> = acts.iter().map(|a| a.needs_start).collect();
            self.start_pending_actions(&mut acts);
            for (a, fresh) in acts.iter_mut().zip(fresh) {
                if fresh {
                    continue;
                }
                if let Err(e) = a.action.reload() {
                    self.log(
                        level::ERROR,
                        "fail2ban.actions",
                        format!(
                            "Failed to reload jail '{}' action '{}': {e}",
                            self.name, a.name
                        ),
                    );
                }
            }
        }
        self.bump_generation();
        self.plan_reconcile(0.0);
        self.idle.store(false, Ordering::SeqCst);
        self.wake.notify_all();
    }

    // ------------------------------------------------------------------
    // status

    pub(crate) fn file_list(&self) -> Vec<String> {
        let files = lock(&self.files).clone();
        if !files.is_empty() {
            return files;
        }
        lock(&self.conf)
            .logpaths
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub(crate) fn journal_match_strings(&self) -> Vec<String> {
        lock(&self.conf)
            .journalmatches
            .iter()
            .map(|m| m.join(" "))
            .collect()
    }

    /// `status J [flavor]`: `[("Filter", …), ("Actions", …)]`, or for the
    /// `stats` flavor `[backend, [failed cur, tot], [banned cur, tot]]`.
    pub(crate) fn status(&self, flavor: &str) -> Json {
        if flavor == "stats" {
            return self.stats();
        }
        let (cur_failed, tot_failed) = {
            let f = lock(&self.fail);
            (f.fm.size(), f.fm.fail_total())
        };
        let mut filter = vec![
            json!(["Currently failed", cur_failed]),
            json!(["Total failed", tot_failed]),
        ];
        if self.is_journal() {
            filter.push(json!([
                "Journal matches",
                [self.journal_match_strings().join(" + ")]
            ]));
        } else {
            filter.push(json!(["File list", self.file_list()]));
        }
        let (cur, total, list) = {
            let b = lock(&self.bans);
            (b.bm.size(), b.bm.ban_total(), b.bm.ban_list())
        };
        let mut actions = vec![
            json!(["Currently banned", cur]),
            json!(["Total banned", total]),
        ];
        if flavor != "short" {
            actions.push(json!(["Banned IP list", list]));
        }
        json!([["Filter", filter], ["Actions", actions]])
    }

    /// `stats` row: `[backend, [failed cur, tot], [banned cur, tot]]`.
    /// What the metrics show of this jail.
    pub(crate) fn metrics(&self) -> crate::metrics::JailMetrics {
        let (failed, failed_total, max_retry, find_time) = {
            let f = lock(&self.fail);
            (
                f.fm.size(),
                f.fm.fail_total(),
                f.fm.max_retry(),
                f.fm.find_time(),
            )
        };
        let (banned, banned_total, ban_time) = {
            let b = lock(&self.bans);
            (b.bm.size(), b.bm.ban_total(), b.bm.ban_time())
        };
        crate::metrics::JailMetrics {
            name: self.name.clone(),
            failed: failed as u64,
            failed_total,
            banned: banned as u64,
            banned_total,
            max_retry: max_retry.into(),
            find_time,
            ban_time,
            unevaluated: self.unevaluated(),
            action_errors: self.action_errors.load(Ordering::Relaxed),
            lines_read: self.lines[0].load(Ordering::Relaxed),
            lines_matched: self.lines[1].load(Ordering::Relaxed),
            lines_ignored: self.lines[2].load(Ordering::Relaxed),
            behind: lock(&self.read_positions)
                .iter()
                .map(|(path, pos)| {
                    let size = std::fs::metadata(path).map_or(0, |m| m.len());
                    (path.display().to_string(), size.saturating_sub(*pos))
                })
                .collect(),
        }
    }

    pub(crate) fn stats(&self) -> Json {
        let m = self.metrics();
        json!([
            self.backend,
            [m.failed, m.failed_total],
            [m.banned, m.banned_total]
        ])
    }

    pub(crate) fn ban_list(&self) -> Vec<String> {
        lock(&self.bans).bm.ban_list()
    }

    /// `get J banip --with-time` lines.
    pub(crate) fn ban_list_with_time(&self) -> Vec<String> {
        lock(&self.bans)
            .bm
            .ban_list_with_time()
            .into_iter()
            .map(|e| {
                format!(
                    "{} \t{} + {} = {}",
                    e.id,
                    time2str(e.time),
                    e.ban_time as i64,
                    time2str(e.end_of_ban)
                )
            })
            .collect()
    }
}
