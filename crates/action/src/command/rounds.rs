//! Rounds of bans and unbans: an action's batch path (one firewall
//! transaction for many addresses, see `crate::batch`), with kernel-side
//! timeouts, and the reconcile and consistency checks that compare the
//! firewall with the bans the jail holds.

use super::*;

impl CommandAction {
    /// Bans a round of tickets: in batches where their commands allow it
    /// (see [`crate::batch`]), else one [`CommandAction::ban`] each. One
    /// result per ticket, in order.
    pub fn ban_round(&mut self, infos: &[&ActionInfo]) -> Vec<Result<(), ActionError>> {
        let handled = self.try_batch("<actionban>", infos);
        infos
            .iter()
            .zip(handled)
            .map(|(i, done)| if done { Ok(()) } else { self.ban(i) })
            .collect()
    }

    /// Unbans a round of tickets, batched like [`CommandAction::ban_round`].
    pub fn unban_round(&mut self, infos: &[&ActionInfo]) -> Vec<Result<(), ActionError>> {
        // (a family without bans since its last flush has nothing to
        // unban, as in `unban`)
        let live: Vec<usize> = (0..infos.len())
            .filter(|&i| self.started_get(&self.state_family(infos[i])) & HAS_ITEMS != 0)
            .collect();
        let live_infos: Vec<&ActionInfo> = live.iter().map(|&i| infos[i]).collect();
        let mut handled = vec![false; infos.len()];
        for (&i, done) in live
            .iter()
            .zip(self.try_batch("<actionunban>", &live_infos))
        {
            handled[i] = done;
        }
        infos
            .iter()
            .zip(handled)
            .map(|(i, done)| if done { Ok(()) } else { self.unban(i) })
            .collect()
    }

    /// Applies `tag` for the tickets in batches and says which tickets
    /// were done (none when batching is off; the others take the
    /// per-ticket path). A round of one ticket is a batch too: it costs
    /// what its command costs, and the native path then serves every ban.
    pub(crate) fn try_batch(&mut self, tag: &str, infos: &[&ActionInfo]) -> Vec<bool> {
        if !self.batching || infos.is_empty() {
            return vec![false; infos.len()];
        }
        let handled = self.apply_batch(tag, infos);
        self.last_batched = handled.iter().all(|&h| h);
        handled
    }

    pub(crate) fn apply_batch(&mut self, tag: &str, infos: &[&ActionInfo]) -> Vec<bool> {
        let ban = tag == "<actionban>";
        let mut handled = vec![false; infos.len()];
        // Per family (as the tickets give it), worked out on its first
        // ticket: the state family, whether bans stack, and, when the
        // command's only ticket tag is `<ip>`, the change recognised for
        // that first ticket, from which the others differ by their address
        // alone (so 100,000 restored bans are not rendered and parsed one
        // by one).
        struct Plan {
            state: String,
            stacks: bool,
            only_ip: bool,
            template: Option<batch::Change>,
        }
        let mut plans: Vec<Plan> = Vec::new();
        let mut by_family: HashMap<String, usize> = HashMap::new();
        // The tickets whose command is recognised: (ticket, plan, change).
        let mut planned: Vec<(usize, usize, batch::Change)> = Vec::with_capacity(infos.len());
        for (i, info) in infos.iter().enumerate() {
            let ip = info.get("ip").unwrap_or_default();
            let fam = info.family();
            let p = match by_family.get(&fam) {
                Some(&p) => p,
                None => {
                    let state = self.state_family(info);
                    // (a start that fails is reported by the per-ticket path)
                    if ban
                        && self.start_on_demand()
                        && self.started_get(&state) == 0
                        && !self.start_family(Some(&state), true).unwrap_or(false)
                    {
                        return handled;
                    }
                    let (Ok(stacks), Ok(template)) = (
                        self.unban_repeats(info),
                        self.replace_tag(tag, &conditional_for(&fam)),
                    ) else {
                        return handled;
                    };
                    let mut tags = std::iter::successors(find_tag(&template, 0), |&(_, end, _)| {
                        find_tag(&template, end)
                    });
                    plans.push(Plan {
                        state,
                        stacks,
                        only_ip: tags.all(|(_, _, name)| name == "ip"),
                        template: None,
                    });
                    by_family.insert(fam.clone(), plans.len() - 1);
                    plans.len() - 1
                }
            };
            let change = match &plans[p].template {
                Some(first) => ip.parse().ok().map(|e| first.for_element(e)),
                None => {
                    let Ok(template) = self.replace_tag(tag, &conditional_for(&fam)) else {
                        return handled;
                    };
                    let change = batch::recognise(&replace_dynamic(&template, info), &ip);
                    if plans[p].only_ip {
                        plans[p].template = change.clone();
                    }
                    change
                }
            };
            if let Some(mut c) = change {
                if ban && self.kernel_timeouts && c.takes_timeout() {
                    c.timeout = info.firewall_timeout();
                }
                planned.push((i, p, c));
            }
        }
        let mut started = vec![false; plans.len()];
        for group in batch::groups(planned.iter().map(|(_, _, c)| c)) {
            let members: Vec<&(usize, usize, batch::Change)> =
                group.iter().map(|&g| &planned[g]).collect();
            let changes: Vec<&batch::Change> = members.iter().map(|(_, _, c)| c).collect();
            let tickets: Vec<&ActionInfo> = members.iter().map(|(i, _, _)| infos[*i]).collect();
            let stacks = members.iter().any(|(_, p, _)| plans[*p].stacks);
            if self.apply_group(ban, stacks, &changes, &tickets) {
                for (i, p, _) in members {
                    handled[*i] = true;
                    started[*p] = true;
                }
            }
        }
        if ban {
            for (plan, _) in plans.iter().zip(started).filter(|(_, s)| *s) {
                let v = self.started_get(&plan.state);
                self.started_set(&plan.state, v | STARTED | HAS_ITEMS);
            }
        }
        handled
    }

    /// One batch for changes through one program (`tickets` are theirs);
    /// whether it was applied.
    pub(crate) fn apply_group(
        &mut self,
        ban: bool,
        stacks: bool,
        changes: &[&batch::Change],
        tickets: &[&ActionInfo],
    ) -> bool {
        let deletes = if stacks {
            // (only iptables rules stack, and their copies are counted)
            let Some(copies) = self.saved_copies(changes) else {
                return false;
            };
            if !ban && copies.contains(&0) {
                // (an unban of a rule that is not there is the shell
                // path's error to report)
                return false;
            }
            if ban {
                for (info, &n) in tickets.iter().zip(&copies).filter(|(_, &n)| n > 0) {
                    self.log_stale_copies(info, n);
                }
            }
            copies
        } else {
            vec![0; changes.len()]
        };
        let mut ok =
            batch::build(changes, &deletes, !ban && stacks).is_some_and(|b| self.run_batch(b));
        if !ok && changes.iter().any(|c| c.timeout.is_some()) {
            ok = self.apply_without_timeouts(changes);
        }
        if !ok && !ban && self.kernel_timeouts {
            ok = self.unban_held(changes);
        }
        if !ok {
            self.drift = true;
            tracing::warn!(
                "[{}] action '{}': a batch of {} failed; running the commands one by one",
                self.jail,
                self.name,
                changes.len()
            );
        }
        ok
    }

    /// A batch with kernel-side timeouts refused: a set made without the
    /// `timeout` flag (by an earlier run, or by an `actionstart` this
    /// action does not recognise). The bans go in without timeouts, and
    /// this action asks for none until it is told again.
    pub(crate) fn apply_without_timeouts(&mut self, changes: &[&batch::Change]) -> bool {
        let plain: Vec<batch::Change> = changes
            .iter()
            .map(|c| batch::Change {
                timeout: None,
                ..(*c).clone()
            })
            .collect();
        let refs: Vec<&batch::Change> = plain.iter().collect();
        let ok = self.run_changes(&refs);
        if ok {
            tracing::warn!(
                "[{}] action '{}': the firewall refused kernel-side timeouts (a set made without them?); its bans go in without them",
                self.jail,
                self.name
            );
            self.kernel_timeouts = false;
        }
        ok
    }

    /// An unban batch refused with kernel-side timeouts on: entries that
    /// lapsed in the kernel are gone already (an nft delete of a missing
    /// element fails the whole transaction). Removes those still held.
    pub(crate) fn unban_held(&mut self, changes: &[&batch::Change]) -> bool {
        let mut held: HashMap<Vec<String>, HashSet<IpAddr>> = HashMap::new();
        for c in changes {
            let argv = batch::list_argv(c);
            if held.contains_key(&argv) {
                continue;
            }
            let out = self
                .executor
                .execute_quiet(&run_argv(argv.clone()), self.timeout());
            if !out.success() {
                return false;
            }
            let listing = String::from_utf8_lossy(&out.stdout);
            held.insert(argv, batch::listed(&listing, c).into_iter().collect());
        }
        let present: Vec<&batch::Change> = changes
            .iter()
            .copied()
            .filter(|c| held[&batch::list_argv(c)].contains(&c.element))
            .collect();
        tracing::debug!(
            "[{}] action '{}': {} of {} entries to remove had lapsed in the kernel",
            self.jail,
            self.name,
            changes.len() - present.len(),
            changes.len()
        );
        present.is_empty() || self.run_changes(&present)
    }

    /// Applies changes that replace no copies (set elements, single rules)
    /// as one batch; whether it succeeded.
    pub(crate) fn run_changes(&self, changes: &[&batch::Change]) -> bool {
        batch::build(changes, &vec![0; changes.len()], false).is_some_and(|b| self.run_batch(b))
    }

    /// Runs a batch; whether it succeeded.
    pub(crate) fn run_batch(&self, b: batch::Batch) -> bool {
        self.executor
            .execute_input(&run_argv(b.argv), b.input.as_bytes(), self.timeout())
            .success()
    }

    /// Compares what the firewall holds for this action with `banned` (the
    /// addresses of all of the jail's current bans): a ban missing from its
    /// set or chain is applied again (with the ticket info `info_of` gives,
    /// asked only for those), an entry for an address that is not banned is
    /// removed. Only for actions whose commands [`crate::batch`] knows, per
    /// family; `None` for the others. With kernel-side timeouts, an entry
    /// whose timeout would end before its ban does (the ban time changed
    /// since, or it went in without one) is renewed.
    pub fn reconcile(
        &mut self,
        banned: &[IpAddr],
        info_of: &dyn Fn(IpAddr) -> Option<ActionInfo>,
    ) -> Option<Reconciled> {
        if !self.batching {
            return None;
        }
        // One set or chain (a target), and the families whose bans go there.
        struct Target {
            argv: Vec<String>,
            families: Vec<bool>,
            states: Vec<String>,
            probe: batch::Change,
            unprobe: batch::Change,
        }
        let mut targets: Vec<Target> = Vec::new();
        // (families as `IpAddr::is_ipv6` tells them)
        for (family, probe_ip) in [(false, "192.0.2.0"), (true, "2001:db8::")] {
            // (families not started are looked at too: a crashed run may
            // have left entries there that no ban of this run will flush)
            let probe_info = ActionInfo::for_id(probe_ip);
            let (Ok(ban), Ok(unban)) = (
                self.render("<actionban>", &probe_info),
                self.render("<actionunban>", &probe_info),
            ) else {
                continue;
            };
            let (Some(probe), Some(unprobe)) = (
                batch::recognise(&ban, probe_ip),
                batch::recognise(&unban, probe_ip),
            ) else {
                continue;
            };
            let argv = batch::list_argv(&probe);
            let state = self.state_family(&probe_info);
            match targets.iter_mut().find(|t| t.argv == argv) {
                Some(t) => {
                    t.families.push(family);
                    t.states.push(state);
                }
                None => targets.push(Target {
                    argv,
                    families: vec![family],
                    states: vec![state],
                    probe,
                    unprobe,
                }),
            }
        }
        if targets.is_empty() {
            return None;
        }
        let mut done = Reconciled::default();
        for t in targets {
            let shared = share_target(self.executor.wrapper(), &t.argv, &self.jail);
            let out = self
                .executor
                .execute_quiet(&run_argv(t.argv), self.timeout());
            let listing = if out.success() {
                String::from_utf8_lossy(&out.stdout).into_owned()
            } else {
                String::new()
            };
            // What an earlier run started and did not stop (a crash) is
            // this run's to stop: it is marked started, so that `stop`
            // removes it even if no ban of this run goes there.
            if batch::target_exists(out.success(), &listing, &t.probe) {
                for state in &t.states {
                    if self.started_get(state) == 0 {
                        self.started_set(state, STARTED);
                    }
                }
            }
            let held = batch::held(&listing, &t.probe);
            let held_set: HashSet<IpAddr> = held.iter().map(|(a, _)| *a).collect();
            let mine: Vec<IpAddr> = banned
                .iter()
                .copied()
                .filter(|a| t.families.contains(&a.is_ipv6()))
                .collect();
            let missing: Vec<ActionInfo> = mine
                .iter()
                .filter(|a| !held_set.contains(a))
                .filter_map(|&a| info_of(a))
                .collect();
            if !missing.is_empty() {
                let refs: Vec<&ActionInfo> = missing.iter().collect();
                done.added += self.ban_round(&refs).iter().filter(|r| r.is_ok()).count();
            }
            let mine_set: HashSet<IpAddr> = mine.into_iter().collect();
            if self.kernel_timeouts {
                let stale: Vec<(IpAddr, Option<u64>)> = held
                    .iter()
                    .filter(|(a, _)| mine_set.contains(a))
                    .filter_map(|&(a, expires)| {
                        let wanted = info_of(a)?.firewall_timeout();
                        needs_renewal(expires, wanted).then_some((a, wanted))
                    })
                    .collect();
                done.renewed += self.renew_timeouts(&t.probe, &t.unprobe, &stale);
            }
            // A set or chain that another jail's action uses too (the same
            // `name=` in two jails) holds that jail's bans as well: nothing
            // in it is a stray for this jail alone.
            if shared {
                tracing::debug!(
                    "[{}] action '{}': its set or chain is shared with another jail; strays are left",
                    self.jail,
                    self.name
                );
                continue;
            }
            let extra: Vec<batch::Change> = held
                .iter()
                .filter(|(a, _)| !mine_set.contains(a))
                .map(|&(a, _)| t.unprobe.for_element(a))
                .collect();
            let refs: Vec<&batch::Change> = extra.iter().collect();
            if self.run_changes(&refs) {
                done.removed += extra.len();
            }
        }
        Some(done)
    }

    /// Gives held entries new kernel-side timeouts (`None`: none), in one
    /// transaction: an nftables element is deleted and added again (adding
    /// an element that is there changes nothing), an ipset entry is added
    /// again (`-exist` renews its timeout). Returns how many were renewed.
    pub(crate) fn renew_timeouts(
        &mut self,
        add: &batch::Change,
        delete: &batch::Change,
        entries: &[(IpAddr, Option<u64>)],
    ) -> usize {
        if entries.is_empty() {
            return 0;
        }
        let mut changes: Vec<batch::Change> = Vec::with_capacity(2 * entries.len());
        if matches!(add.op, batch::Op::Nft { .. }) {
            changes.extend(entries.iter().map(|&(a, _)| delete.for_element(a)));
        }
        changes.extend(entries.iter().map(|&(a, timeout)| batch::Change {
            timeout,
            ..add.for_element(a)
        }));
        let refs: Vec<&batch::Change> = changes.iter().collect();
        if self.run_changes(&refs) {
            entries.len()
        } else {
            0
        }
    }

    /// How many copies of each change's rule its chain holds now (one
    /// `iptables-save` per table), or `None` if that cannot be told.
    pub(crate) fn saved_copies(&self, group: &[&batch::Change]) -> Option<Vec<usize>> {
        let mut saved = HashMap::new();
        for table in batch::ipt_tables(group) {
            let out = self.executor.execute(
                &run_argv(batch::ipt_save_argv(&group[0].program, table)),
                self.timeout(),
            );
            if !out.success() {
                return None;
            }
            saved.insert(table, String::from_utf8_lossy(&out.stdout).into_owned());
        }
        group
            .iter()
            .map(|c| match &c.op {
                batch::Op::Ipt { table, .. } => batch::ipt_copies(saved.get(table.as_str())?, c),
                batch::Op::Nft { .. } | batch::Op::Ipset { .. } => None,
            })
            .collect()
    }

    /// The log lines of `ban_with` for copies of a ban found before it.
    pub(crate) fn log_stale_copies(&self, info: &ActionInfo, removed: usize) {
        let ip = info.get("ip").unwrap_or_default();
        let restored = info.get("restored").as_deref() == Some("1");
        if removed == 1 && restored {
            tracing::debug!(
                "[{}] {ip}: replaced the ban an earlier run left in action '{}'",
                self.jail,
                self.name
            );
        } else {
            tracing::warn!(
                "[{}] {ip}: removed {removed} stale copies of its ban in action '{}' before banning it",
                self.jail,
                self.name
            );
        }
    }

    /// Runs the invariant check (with repair) for every started family;
    /// families that cannot be restored are marked not started. Returns
    /// whether all were sane.
    pub fn consistency_check(&mut self) -> Result<bool, ActionError> {
        let mut ret = true;
        if self.props.get("actioncheck").is_some_and(|v| !v.is_empty()) {
            for (fam, started) in self.started.clone() {
                if started != 0 && self.invariant_check(&fam, false, true)? != 1 {
                    self.started_set(&fam, 0);
                    self.set_executed("<actionstart>", &fam, None);
                    ret = false;
                }
            }
        }
        Ok(ret)
    }

    /// fail2ban `_invariantCheck`. Returns 1 (sane or restored), 0 (could
    /// not restore) or -1 (broken, repair not wanted: unban without
    /// `actionrepair_on_unban`).
    pub(crate) fn invariant_check(
        &mut self,
        family: &str,
        is_unban: bool,
        force_start: bool,
    ) -> Result<i32, ActionError> {
        if !force_start && !self.started.iter().any(|(f, _)| f == family) {
            return Ok(1);
        }
        let check = ShellCommand::plain(self.get_operation("<actioncheck>", family)?);
        if check.is_empty() || self.exec(&check) {
            return Ok(1);
        }
        if is_unban && !self.repair_on_unban() {
            tracing::error!("Invariant check failed. Unban is impossible.");
            return Ok(-1);
        }
        tracing::error!("Invariant check failed. Trying to restore a sane environment");
        self.invalidate_ban_epoch();
        self.drift = true;
        let repair = ShellCommand::plain(self.get_operation("<actionrepair>", family)?);
        if !repair.is_empty() {
            if !self.exec(&repair) {
                self.started_set(family, 0);
                tracing::error!("Unable to restore environment");
                return Ok(0);
            }
            self.started_set(family, STARTED);
        } else {
            // No repair command: restart the family. An error in stop is
            // ignored (start and the check afterwards decide).
            if let Err(e) = self.stop_family(Some(family)) {
                tracing::debug!("ignoring stop error during repair: {e}");
            }
            let force = force_start || !self.start_on_demand();
            self.start_family(Some(family), force)?;
        }
        if self.started_get(family) != 0 && !self.exec(&check) {
            tracing::error!("Unable to restore environment");
            return Ok(0);
        }
        Ok(1)
    }
}
