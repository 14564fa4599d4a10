//! [`CommandAction`]: fail2ban's shell-command action and its lifecycle
//! (§4.4).
//!
//! State kept per *family* (`""` for family-independent actions, otherwise
//! `inet4`/`inet6`), mirroring fail2ban's `__started` dict: bit 1 = started,
//! bit 2 = "contains items" (something was banned since the last flush).
//! Start and stop run per family; identical commands for two families run
//! only once, which is tracked by remembering the last successfully executed
//! command per operation and family (fail2ban's `_operationExecuted`).
//!
//! Substitution results are cached per (command, conditional) and dropped
//! whenever a property changes, as fail2ban does in `__setattr__`.
//!
//! The file is about 1,000 lines on purpose: it is one type, whose
//! methods share the family state and the caches above; batch rounds and
//! reconcile, which need neither, live in `rounds`.
//!
//! # One copy per ban (gaoler's addition)
//!
//! Some actions *stack*: every `actionban` adds one more copy of the ban and
//! every `actionunban` removes one copy, failing once none is left. The
//! stock iptables actions are like that (`-I` inserts a rule even if an
//! identical one exists, `-D` deletes the first match). fail2ban bans the
//! restored tickets again after a restart, so when the firewall survived
//! the previous run (a crash, `kill -9`, an OOM kill) every restored ban
//! gets a second rule, and the unban at expiry removes only one of them:
//! the address stays blocked although no jail lists it.
//!
//! For a stacking action gaoler keeps at most one copy per ban:
//! * a ban first *removes* what may be left of an earlier one:
//!   `actionunban` runs until it fails (at most [`MAX_COPIES`] times, its
//!   failures logged at DEBUG only), then `actionban` runs once. The jail
//!   only bans an address it does not hold banned, so anything found is
//!   stale: the rule of a restored ticket, or of a ban made again because
//!   the log was read again from an older position after a crash. This
//!   costs one failing command per ban in the normal case;
//! * an unban that succeeded is repeated the same way, so copies left by
//!   anything else (an older version, a ban that timed out after it
//!   inserted its rule) go too.
//!
//! An action stacks when its `actionunban_repeat` property says so, or, if
//! it has none, when every line of its `actionunban` (after the static
//! substitution, for the ticket's family) is a plain
//! `iptables`/`ip6tables ... -D ...` command: nothing but that command, so
//! a repetition can have no other effect and is sure to fail once the rule
//! is gone. Every other action (sets such as nftables and ipset, where a
//! ban is idempotent; shell actions whose unban notifies someone) keeps
//! fail2ban's behaviour exactly: one `actionunban` per unban, nothing extra
//! before a ban.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::batch;

mod rounds;
use crate::error::ActionError;
use crate::exec::Executor;
use crate::info::ActionInfo;
use crate::subst::{
    find_tag, replace_dynamic, replace_static, substitute_recursive_tags, ShellCommand,
    ESCAPED_TAGS,
};
use crate::timevalue::{format_seconds, str2seconds};

/// The command keys of an action file, all defaulting to the empty command.
pub const COMMAND_KEYS: &[&str] = &[
    "actionstart",
    "actionban",
    "actionreban",
    "actionunban",
    "actioncheck",
    "actionrepair",
    "actionflush",
    "actionstop",
    "actionreload",
];

/// Default command timeout in seconds.
pub const DEFAULT_TIMEOUT: f64 = 60.0;

/// The most copies of one ban a repeated `actionunban` removes (a bound in
/// case an `actionunban_repeat = true` command never fails).
pub const MAX_COPIES: usize = 16;

const STARTED: u8 = 1;
const HAS_ITEMS: u8 = 2;

/// One action of a jail as the configuration reader delivers it: the
/// `["multi-set", jail, "action", name, [[key, value], ...]]` of fail2ban's
/// client stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActionSpec {
    /// The jail.
    pub jail: String,
    /// The action's name in the jail (`actname`, else the file's name).
    pub name: String,
    /// Its properties (`actionban`, `[Init]` values, ...) in reader order.
    pub properties: Vec<(String, String)>,
}

impl ActionSpec {
    /// Whether this names a Python action (`something.py`), which gaoler
    /// refuses.
    pub fn is_python(&self) -> bool {
        self.name.ends_with(".py")
    }
}

/// Produces the info of the "empty" ticket used for start/stop/flush/reload
/// (the jail can fill in `jail.*`, `bantime`, ...).
pub type InfoFactory = Arc<dyn Fn() -> ActionInfo + Send + Sync>;

/// What to do after each family's execution in `execute_operation`.
#[derive(Clone, Copy)]
enum AfterExec {
    Nothing,
    Started,
    Stopped,
    Flushed,
}

/// What a reconcile changed (see [`CommandAction::reconcile`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Bans missing from the firewall, applied again.
    pub added: usize,
    /// Entries for addresses not banned, removed.
    pub removed: usize,
    /// Entries whose kernel-side timeout was renewed.
    pub renewed: usize,
}

/// Whether a held entry's kernel-side timeout (seconds left, `None`: none)
/// must be renewed to be the `wanted` one: it would lapse before the ban
/// ends (a few seconds of rounding aside), or it has none where one is
/// wanted.
fn needs_renewal(held: Option<u64>, wanted: Option<u64>) -> bool {
    match (held, wanted) {
        (Some(_), None) => true,
        (None, Some(_)) => true,
        (Some(h), Some(w)) => h.saturating_add(5) < w,
        (None, None) => false,
    }
}

/// A fail2ban command action.
pub struct CommandAction {
    jail: String,
    name: String,
    props: BTreeMap<String, String>,
    timeout: f64,
    executor: Executor,
    ipv6_allowed: bool,
    info_factory: Option<InfoFactory>,
    /// Families in insertion order with their STARTED/HAS_ITEMS bits.
    started: Vec<(String, u8)>,
    /// Recursively substituted properties per conditional.
    subst_cache: HashMap<String, BTreeMap<String, String>>,
    /// Final static substitution per (query, conditional).
    cmd_cache: HashMap<(String, String), String>,
    /// Last successful command per (operation tag, family).
    executed: HashMap<&'static str, Vec<(String, String)>>,
    ban_epoch: u64,
    shared_epoch: Option<Arc<AtomicU64>>,
    /// Whether rounds may be applied as one batch ([`crate::batch`]).
    batching: bool,
    /// Whether the last round went in batches.
    last_batched: bool,
    /// Whether bans carry kernel-side timeouts where the native path
    /// applies them (see [`CommandAction::set_kernel_timeouts`]).
    kernel_timeouts: bool,
    /// Whether the firewall was found other than this action left it (see
    /// [`CommandAction::take_drift`]).
    drift: bool,
}

impl std::fmt::Debug for CommandAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandAction")
            .field("jail", &self.jail)
            .field("name", &self.name)
            .field("started", &self.started)
            .field("ban_epoch", &self.ban_epoch)
            .finish_non_exhaustive()
    }
}

impl CommandAction {
    /// Builds the action from the reader's spec. Refuses Python actions and
    /// invalid `timeout` values.
    pub fn new(spec: &ActionSpec) -> Result<Self, ActionError> {
        Self::with_executor(spec, Executor::new())
    }

    /// Like [`CommandAction::new`] with a specific executor (e.g. one that
    /// runs commands inside a network namespace).
    pub fn with_executor(spec: &ActionSpec, executor: Executor) -> Result<Self, ActionError> {
        if spec.is_python() {
            return Err(ActionError::PythonAction {
                jail: spec.jail.clone(),
                action: spec.name.clone(),
            });
        }
        let mut action = Self {
            jail: spec.jail.clone(),
            name: spec.name.clone(),
            props: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            executor,
            ipv6_allowed: ipv6_available(),
            info_factory: None,
            started: Vec::new(),
            subst_cache: HashMap::new(),
            cmd_cache: HashMap::new(),
            executed: HashMap::new(),
            ban_epoch: 0,
            shared_epoch: None,
            batching: true,
            last_batched: false,
            kernel_timeouts: false,
            drift: false,
        };
        action.clear_all_params();
        for (k, v) in &spec.properties {
            action.set_property(k, v)?;
        }
        Ok(action)
    }

    /// The jail name.
    pub fn jail(&self) -> &str {
        &self.jail
    }

    /// The action name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the executor.
    pub fn set_executor(&mut self, executor: Executor) {
        self.executor = executor;
    }

    /// Whether IPv6 is allowed (decides whether `inet6` is a family of
    /// conditional actions). Defaults to whether the host has IPv6.
    pub fn set_ipv6_allowed(&mut self, allowed: bool) {
        self.ipv6_allowed = allowed;
    }

    /// The jail option `actionengine`: `auto` lets the actions batch
    /// (`true`, see [`CommandAction::set_batching`]), `shell` runs
    /// fail2ban's per-address commands (`false`).
    pub fn batching_for_engine(engine: &str) -> Result<bool, String> {
        match engine {
            "auto" => Ok(true),
            "shell" => Ok(false),
            other => Err(format!("actionengine must be auto or shell, not {other:?}")),
        }
    }

    /// Whether [`CommandAction::ban_round`] and
    /// [`CommandAction::unban_round`] may batch (the default); `false` runs
    /// fail2ban's per-address commands whatever they are.
    pub fn set_batching(&mut self, on: bool) {
        self.batching = on;
    }

    /// Kernel-side timeouts (gaoler's `kerneltimeout` jail option): the
    /// bans this action adds in batches to an nftables set or an ipset
    /// carry the timeout their ticket info asks for
    /// ([`ActionInfo::firewall_timeout`]), so that they lapse even if the
    /// daemon is dead. An nftables set takes element timeouts only if it
    /// was made with the `timeout` flag: the set that `actionstart` (and
    /// the re-creating `actionflush`) of such an action makes with `flags
    /// interval` is made with `flags interval,timeout` instead. An ipset
    /// made with a `timeout` (the stock `timeout 0`) takes them as it is. A
    /// set that refuses them gets the bans without, with a WARNING. Takes
    /// effect for sets made from now on (a jail's next start).
    pub fn set_kernel_timeouts(&mut self, on: bool) {
        self.kernel_timeouts = on;
        self.clear_caches();
    }

    /// Whether bans of the family that `conditional` selects go to an
    /// nftables set through the native path.
    fn bans_to_nft_set(&mut self, conditional: &str) -> bool {
        let probe = if conditional.contains("inet6") {
            "2001:db8::"
        } else {
            "192.0.2.0"
        };
        let Ok(ban) = self.replace_tag("<actionban>", conditional) else {
            return false;
        };
        let info = ActionInfo::for_id(probe);
        batch::recognise(&replace_dynamic(&ban, &info), probe)
            .is_some_and(|c| matches!(c.op, batch::Op::Nft { .. }))
    }

    /// Whether, since the last call, the firewall was found other than
    /// this action left it: a batch failed, or an invariant check failed
    /// and the action was restarted (a table or chain deleted behind its
    /// back takes the bans in it along). The jail then reconciles, which
    /// puts the bans lost with it back.
    pub fn take_drift(&mut self) -> bool {
        std::mem::take(&mut self.drift)
    }

    /// Whether the last round was applied in batches: the jail then gives
    /// this action large rounds.
    pub fn batches(&self) -> bool {
        self.batching && self.last_batched
    }

    /// Sets the factory of the dummy ticket info for start/stop/flush/reload.
    pub fn set_info_factory(&mut self, factory: InfoFactory) {
        self.info_factory = Some(factory);
    }

    /// Shares the ban epoch counter with the jail (fail2ban keeps one per
    /// jail's actions, so a repair of one action causes re-bans for all).
    pub fn set_shared_epoch(&mut self, epoch: Arc<AtomicU64>) {
        self.shared_epoch = Some(epoch);
    }

    /// The ban epoch of this action: tickets banned with an older epoch
    /// must be re-banned ([`CommandAction::reban`]).
    pub fn ban_epoch(&self) -> u64 {
        self.ban_epoch
    }

    /// Increments the ban epoch (of the jail, if shared, and this action).
    pub fn invalidate_ban_epoch(&mut self) {
        self.ban_epoch = match &self.shared_epoch {
            Some(shared) => shared.fetch_add(1, Ordering::SeqCst) + 1,
            None => self.ban_epoch + 1,
        };
    }

    /// The command timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(0.0))
    }

    /// A property's raw value.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// All properties (raw values, including the defaulted command keys).
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.props
    }

    /// Sets one property as fail2ban's `CommandAction.__setattr__` does:
    /// `timeout` is evaluated as a time value, `bantime` is ignored, private
    /// names (`_x`) are not properties. Clears the substitution caches.
    pub fn set_property(&mut self, key: &str, value: &str) -> Result<(), ActionError> {
        match key {
            "bantime" => return Ok(()),
            "timeout" => {
                let secs = str2seconds(value).map_err(|e| ActionError::InvalidTimeout {
                    jail: self.jail.clone(),
                    action: self.name.clone(),
                    value: value.to_string(),
                    reason: e.reason,
                })?;
                self.timeout = secs;
                self.props.insert(key.to_string(), format_seconds(secs));
            }
            k if k.starts_with('_') => return Ok(()),
            _ => {
                self.props.insert(key.to_string(), value.to_string());
            }
        }
        self.clear_caches();
        Ok(())
    }

    /// Removes a property (fail2ban `__delattr__`).
    pub fn remove_property(&mut self, key: &str) {
        self.props.remove(key);
        self.clear_caches();
    }

    /// Re-parameterises the action for `fail2ban-client reload`: command
    /// keys and timeout go back to their defaults, other properties stay
    /// unless overridden, then `properties` are applied. Call
    /// [`CommandAction::reload`] afterwards to run `actionreload`. The
    /// started families are kept (the action keeps its identity).
    pub fn reconfigure(&mut self, properties: &[(String, String)]) -> Result<(), ActionError> {
        self.clear_all_params();
        for (k, v) in properties {
            self.set_property(k, v)?;
        }
        Ok(())
    }

    fn clear_all_params(&mut self) {
        self.timeout = DEFAULT_TIMEOUT;
        self.props
            .insert("timeout".to_string(), format_seconds(DEFAULT_TIMEOUT));
        for k in COMMAND_KEYS {
            self.props.insert(k.to_string(), String::new());
        }
        self.clear_caches();
    }

    fn clear_caches(&mut self) {
        self.subst_cache.clear();
        self.cmd_cache.clear();
        self.executed.clear();
    }

    fn bool_prop(&self, key: &str) -> Option<bool> {
        self.props.get(key).map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
    }

    fn has_cond_section(&self) -> bool {
        self.props.keys().any(|k| is_conditional_family_key(k))
    }

    /// The families this action handles: `["inet4", "inet6"]` (inet6 only
    /// if allowed) when it has `key?family=…` properties, a `families`
    /// property if given, else `[""]`.
    pub fn families(&self) -> Vec<String> {
        if let Some(v) = self.props.get("families") {
            let fams: Vec<String> = v
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if !fams.is_empty() {
                return fams;
            }
        }
        if self.has_cond_section() {
            if self.ipv6_allowed {
                vec!["inet4".into(), "inet6".into()]
            } else {
                vec!["inet4".into()]
            }
        } else {
            vec![String::new()]
        }
    }

    /// Whether start runs per family just before its first ban (explicit
    /// `actionstart_on_demand`, else true iff there are conditional keys).
    pub fn start_on_demand(&self) -> bool {
        self.bool_prop("actionstart_on_demand")
            .unwrap_or_else(|| self.has_cond_section())
    }

    /// `actionrepair_on_unban`.
    pub fn repair_on_unban(&self) -> bool {
        self.bool_prop("actionrepair_on_unban").unwrap_or(false)
    }

    /// `norestored`: restored tickets (after a restart) must not be banned
    /// with this action. The jail checks this.
    pub fn norestored(&self) -> bool {
        self.bool_prop("norestored").unwrap_or(false)
    }

    /// Whether a ban of `info` stacks in this action, so that a ban
    /// replaces earlier copies and an unban removes every copy (see the
    /// module docs):
    /// `actionunban_repeat` if set, else whether the `actionunban` for the
    /// ticket's family is made of plain iptables deletions.
    pub fn unban_repeats(&mut self, info: &ActionInfo) -> Result<bool, ActionError> {
        if let Some(v) = self.bool_prop("actionunban_repeat") {
            return Ok(v);
        }
        let cond = conditional_for(&info.family());
        let cmd = self.replace_tag("<actionunban>", &cond)?;
        Ok(is_stacking_unban(&cmd))
    }

    /// Whether the action has an `actionflush` (then the jail flushes
    /// instead of unbanning each ticket).
    pub fn has_flush(&self) -> bool {
        self.props.get("actionflush").is_some_and(|v| !v.is_empty())
    }

    /// Whether `actionprolong` is set and not blank.
    pub fn is_prolongable(&self) -> bool {
        self.props
            .get("actionprolong")
            .is_some_and(|v| !v.trim().is_empty())
    }

    /// Families that are currently started, in start order.
    pub fn started_families(&self) -> Vec<String> {
        self.started
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(f, _)| f.clone())
            .collect()
    }

    fn started_get(&self, family: &str) -> u8 {
        self.started
            .iter()
            .find(|(f, _)| f == family)
            .map_or(0, |(_, v)| *v)
    }

    fn started_set(&mut self, family: &str, value: u8) {
        match self.started.iter_mut().find(|(f, _)| f == family) {
            Some(slot) => slot.1 = value,
            None => self.started.push((family.to_string(), value)),
        }
    }

    /// The family under which a ticket's state is kept.
    ///
    /// Deliberate deviation from fail2ban: for a family-independent action
    /// (no `?family=` keys, no `families`), fail2ban keys the state by the
    /// ticket's family (`inet4`) although start ran for `''`. Its
    /// stop+start repair then stops nothing (`inet4` was never started) and
    /// skips the start (same command already executed for `''`), so the
    /// repair silently does nothing. Keeping the state under `''` makes the
    /// repair work and changes nothing else observable: the static step has
    /// no conditional keys to choose from, and the dynamic `<family>` still
    /// comes from the ticket.
    fn state_family(&self, info: &ActionInfo) -> String {
        if self.props.contains_key("families") || self.has_cond_section() {
            info.family()
        } else {
            String::new()
        }
    }

    fn op_error(&self, message: String) -> ActionError {
        ActionError::Operation {
            jail: self.jail.clone(),
            action: self.name.clone(),
            message,
        }
    }

    fn subst_error(&self, source: crate::error::SubstError) -> ActionError {
        ActionError::Substitution {
            jail: self.jail.clone(),
            action: self.name.clone(),
            source,
        }
    }

    /// The static step for `query` (e.g. `<actionban>`), cached.
    fn replace_tag(&mut self, query: &str, conditional: &str) -> Result<String, ActionError> {
        if !query.contains('<') {
            return Ok(query.to_string());
        }
        let key = (query.to_string(), conditional.to_string());
        if let Some(v) = self.cmd_cache.get(&key) {
            return Ok(v.clone());
        }
        if !self.subst_cache.contains_key(conditional) {
            let sub = substitute_recursive_tags(&self.props, conditional, ESCAPED_TAGS)
                .map_err(|e| self.subst_error(e))?;
            self.subst_cache.insert(conditional.to_string(), sub);
        }
        let sub = &self.subst_cache[conditional];
        let mut value = replace_static(query, sub, conditional).map_err(|e| self.subst_error(e))?;
        if self.kernel_timeouts
            && matches!(query, "<actionstart>" | "<actionflush>")
            && value.contains("flags interval")
            && self.bans_to_nft_set(conditional)
        {
            value = value.replace("flags interval", "flags interval,timeout");
        }
        self.cmd_cache.insert(key, value.clone());
        Ok(value)
    }

    /// fail2ban `_getOperation`: static step with the family's conditional,
    /// then `<family>` (only) as a dynamic tag.
    fn get_operation(&mut self, tag: &str, family: &str) -> Result<String, ActionError> {
        let cond = conditional_for(family);
        let cmd = self.replace_tag(tag, &cond)?;
        if family.is_empty() || !cmd.contains('<') {
            return Ok(cmd);
        }
        let info = ActionInfo::new().with("family", family);
        Ok(replace_dynamic(&cmd, &info).script)
    }

    fn executed_by_others(&self, tag: &'static str, family: &str) -> Vec<String> {
        self.executed
            .get(tag)
            .map(|v| {
                v.iter()
                    .filter(|(f, _)| f != family)
                    .map(|(_, c)| c.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records (`Some`) or forgets (`None`: this family and every family
    /// with the same command) the last executed command of an operation.
    fn set_executed(&mut self, tag: &'static str, family: &str, cmd: Option<String>) {
        let entry = self.executed.entry(tag).or_default();
        match cmd.filter(|c| !c.is_empty()) {
            Some(cmd) => match entry.iter_mut().find(|(f, _)| f == family) {
                Some(slot) => slot.1 = cmd,
                None => entry.push((family.to_string(), cmd)),
            },
            None => {
                if let Some(pos) = entry.iter().position(|(f, _)| f == family) {
                    let (_, old) = entry.remove(pos);
                    entry.retain(|(_, c)| *c != old);
                }
            }
        }
    }

    fn dummy_info(&self, family: &str) -> ActionInfo {
        let mut info = match &self.info_factory {
            Some(f) => f(),
            None => {
                let mut i = ActionInfo::new();
                i.set("ip", "")
                    .set("fid", "")
                    .set("failures", "0")
                    .set("matches", "")
                    .set("restored", "0")
                    .set("bancount", "0")
                    .set("jail.name", self.jail.clone());
                i
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        info.set_time(now).set("family", family);
        info
    }

    fn exec(&self, cmd: &ShellCommand) -> bool {
        self.executor.execute(cmd, self.timeout()).success()
    }

    /// fail2ban `_executeOperation`: runs a family-aware operation (start,
    /// stop, flush, reload) for the given families, or all started ones.
    fn execute_operation(
        &mut self,
        tag: &'static str,
        operation: &str,
        families: Option<Vec<String>>,
        after: AfterExec,
    ) -> Result<bool, ActionError> {
        let families = families.unwrap_or_else(|| self.started_families());
        let mut res = true;
        let mut err = String::from("'Script error'");
        for fam in families {
            let cmd = match self.get_operation(tag, &fam) {
                Ok(c) => c,
                Err(e) => {
                    res = false;
                    err = e.to_string();
                    continue;
                }
            };
            let mut ret = true;
            if !cmd.is_empty() && !self.executed_by_others(tag, &fam).contains(&cmd) {
                let real = replace_dynamic(&cmd, &self.dummy_info(&fam));
                ret = self.exec(&real);
                res &= ret;
            }
            match after {
                AfterExec::Nothing => {}
                AfterExec::Started => {
                    if ret {
                        self.set_executed("<actionstop>", &fam, None);
                        self.started_set(&fam, STARTED);
                    }
                }
                AfterExec::Stopped => {
                    if ret {
                        self.set_executed("<actionstart>", &fam, None);
                    }
                }
                AfterExec::Flushed => {
                    let v = self.started_get(&fam);
                    if ret && v != 0 {
                        self.started_set(&fam, v & !HAS_ITEMS);
                    }
                }
            }
            self.set_executed(tag, &fam, ret.then_some(cmd));
        }
        if !res {
            return Err(self.op_error(format!(
                "Error {operation} action {}/{}: {err}",
                self.jail, self.name
            )));
        }
        Ok(res)
    }

    /// Jail start: runs `actionstart` for every family, unless the action
    /// starts on demand (then nothing happens until the first ban).
    pub fn start(&mut self) -> Result<(), ActionError> {
        self.start_family(None, false).map(|_| ())
    }

    fn start_family(&mut self, family: Option<&str>, force: bool) -> Result<bool, ActionError> {
        if self.start_on_demand() {
            if !force {
                return Ok(true);
            }
        } else if !force && family.is_some_and(|f| self.started_get(f) != 0) {
            return Ok(true);
        }
        let families = match family {
            Some(f) => vec![f.to_string()],
            None => self.families(),
        };
        self.execute_operation(
            "<actionstart>",
            "starting",
            Some(families),
            AfterExec::Started,
        )
    }

    /// Jail stop: runs `actionstop` for every started family.
    pub fn stop(&mut self) -> Result<(), ActionError> {
        self.stop_family(None).map(|_| ())
    }

    fn stop_family(&mut self, family: Option<&str>) -> Result<bool, ActionError> {
        let families = match family {
            None => {
                let fams = self.started_families();
                if fams.is_empty() {
                    return Ok(true);
                }
                self.started.clear();
                fams
            }
            Some(f) => {
                if !self.started.iter().any(|(x, _)| x == f) {
                    return Ok(true);
                }
                self.started_set(f, 0);
                vec![f.to_string()]
            }
        };
        self.execute_operation(
            "<actionstop>",
            "stopping",
            Some(families),
            AfterExec::Stopped,
        )
    }

    /// Bans a ticket: starts its family on demand, runs `actionban` (with
    /// the check/repair/retry logic). Only a successful ban marks the family
    /// as holding items (fail2ban raises before setting the flag).
    ///
    /// In a stacking action the ban replaces whatever is left of an earlier
    /// ban of the address (see the module docs).
    pub fn ban(&mut self, info: &ActionInfo) -> Result<(), ActionError> {
        self.ban_with("<actionban>", info)
    }

    /// Re-bans a ticket (after a repair invalidated the ban epoch):
    /// `actionreban` if defined, else `actionban` (in a stacking action
    /// replacing the copies a repair may have kept).
    pub fn reban(&mut self, info: &ActionInfo) -> Result<(), ActionError> {
        let tag = if self.props.get("actionreban").is_some_and(|v| !v.is_empty()) {
            "<actionreban>"
        } else {
            "<actionban>"
        };
        self.ban_with(tag, info)
    }

    fn ban_with(&mut self, tag: &str, info: &ActionInfo) -> Result<(), ActionError> {
        let family = self.state_family(info);
        if self.start_on_demand() && self.started_get(&family) == 0 {
            self.start_family(Some(&family), true)?;
        }
        if self.unban_repeats(info)? {
            // The jail bans an address only while it does not hold a ban
            // of it, so any copy found here is stale: an earlier run's
            // (restored ticket, or log lines read again after a crash).
            let removed = self.remove_copies(info)?;
            if removed > 0 {
                self.log_stale_copies(info, removed);
            }
        }
        if !self.process_cmd(tag, info)? {
            return Err(self.op_error(format!(
                "Error banning {}",
                info.get("ip").unwrap_or_default()
            )));
        }
        let v = self.started_get(&family);
        self.started_set(&family, v | STARTED | HAS_ITEMS);
        Ok(())
    }

    /// Prolongs a ban with `actionprolong`; a no-op if not prolongable.
    pub fn prolong(&mut self, info: &ActionInfo) -> Result<(), ActionError> {
        if !self.is_prolongable() {
            return Ok(());
        }
        if !self.process_cmd("<actionprolong>", info)? {
            return Err(self.op_error(format!(
                "Error prolonging {}",
                info.get("ip").unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Unbans a ticket, only if its family has had a ban since the last
    /// flush/stop.
    ///
    /// In a stacking action a successful unban is repeated until it fails,
    /// so that no copy of the ban survives it (see the module docs).
    pub fn unban(&mut self, info: &ActionInfo) -> Result<(), ActionError> {
        let family = self.state_family(info);
        if self.started_get(&family) & HAS_ITEMS == 0 {
            return Ok(());
        }
        if !self.process_cmd("<actionunban>", info)? {
            return Err(self.op_error(format!(
                "Error unbanning {}",
                info.get("ip").unwrap_or_default()
            )));
        }
        if self.unban_repeats(info)? {
            let extra = self.remove_copies(info)?;
            if extra > 0 {
                tracing::warn!(
                    "[{}] {}: removed {extra} more copies of its ban in action '{}'",
                    self.jail,
                    info.get("ip").unwrap_or_default(),
                    self.name
                );
            }
        }
        Ok(())
    }

    /// Runs `actionunban` for `info` until it fails, at most [`MAX_COPIES`]
    /// times, without check, repair or retry; failures are expected (the
    /// end of the copies) and logged at DEBUG. Returns how many succeeded.
    fn remove_copies(&mut self, info: &ActionInfo) -> Result<usize, ActionError> {
        let cond = conditional_for(&info.family());
        let cmd = self.replace_tag("<actionunban>", &cond)?;
        let real = replace_dynamic(&cmd, info);
        if real.is_empty() {
            return Ok(0);
        }
        let mut removed = 0;
        while removed < MAX_COPIES && self.executor.execute_quiet(&real, self.timeout()).success() {
            removed += 1;
        }
        Ok(removed)
    }

    /// Runs `actionflush` once per started family holding items. Returns
    /// `Ok(true)` when there was nothing to flush or the flush succeeded.
    /// The jail should use it only when [`CommandAction::has_flush`].
    pub fn flush(&mut self) -> Result<bool, ActionError> {
        let families: Vec<String> = self
            .started
            .iter()
            .filter(|(_, v)| v & (STARTED | HAS_ITEMS) == STARTED | HAS_ITEMS)
            .map(|(f, _)| f.clone())
            .collect();
        if families.is_empty() {
            return Ok(true);
        }
        self.execute_operation(
            "<actionflush>",
            "flushing",
            Some(families),
            AfterExec::Flushed,
        )
    }

    /// Runs `actionreload` for every started family.
    pub fn reload(&mut self) -> Result<(), ActionError> {
        self.execute_operation("<actionreload>", "reloading", None, AfterExec::Nothing)
            .map(|_| ())
    }

    /// The fully substituted command that `tag` (e.g. `"<actionban>"`)
    /// would run for `info` (static step with the info's family, then the
    /// dynamic step), without running it. For diagnostics and tests.
    pub fn render(&mut self, tag: &str, info: &ActionInfo) -> Result<ShellCommand, ActionError> {
        let cond = conditional_for(&info.family());
        let cmd = self.replace_tag(tag, &cond)?;
        Ok(replace_dynamic(&cmd, info))
    }

    /// fail2ban `_processCmd`: static + dynamic substitution and execution,
    /// retried once after a failed attempt; before the retry the invariant
    /// check (and repair) runs if `actioncheck` is set.
    fn process_cmd(&mut self, tag: &str, info: &ActionInfo) -> Result<bool, ActionError> {
        let family = self.state_family(info);
        let cond = conditional_for(&info.family());
        let is_unban = tag == "<actionunban>";
        let mut attempts = 0;
        loop {
            if attempts > 0
                && self.props.get("actioncheck").is_some_and(|v| !v.is_empty())
                && self.invariant_check(&family, is_unban, !is_unban)? != 1
            {
                return Ok(false);
            }
            let cmd = self.replace_tag(tag, &cond)?;
            let real = replace_dynamic(&cmd, info);
            let ok = self.exec(&real);
            attempts += 1;
            if ok || attempts > 1 {
                return Ok(ok);
            }
        }
    }
}

/// The jails that reconciled each firewall target, by the executor's
/// wrapper and the target's listing command.
type TargetOwners = HashMap<(Vec<String>, Vec<String>), BTreeSet<String>>;
static TARGET_OWNERS: LazyLock<Mutex<TargetOwners>> = LazyLock::new(Default::default);

/// Records that `jail` uses the target `argv` lists, and says whether
/// another jail uses it too.
fn share_target(wrapper: &[String], argv: &[String], jail: &str) -> bool {
    let mut g = TARGET_OWNERS.lock().unwrap_or_else(|e| e.into_inner());
    let owners = g.entry((wrapper.to_vec(), argv.to_vec())).or_default();
    owners.insert(jail.to_string());
    owners.len() > 1
}

/// `argv` run through the executor's shell without the shell reading it.
fn run_argv(argv: Vec<String>) -> ShellCommand {
    ShellCommand {
        script: "exec \"$0\" \"$@\"".to_string(),
        args: argv,
    }
}

/// Whether an `actionunban` (statically substituted, so only ticket tags
/// such as `<ip>` are left) consists of plain iptables/ip6tables deletions:
/// each non-blank line one `iptables ... -D ...` command with no shell
/// operator, redirection, substitution or quoting around it (a tag in
/// double quotes, `"<ip>"`, is one word whatever its value, so it counts as
/// plain). Such a command deletes one matching rule and fails when there
/// is none, and repeating it can do nothing else.
pub fn is_stacking_unban(cmd: &str) -> bool {
    let mut any = false;
    for line in cmd.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let plain = strip_tags(line).replace("\"TAG\"", "TAG");
        if plain.contains(|c: char| "`$;&|<>(){}\\'\"#*?~".contains(c)) {
            return false;
        }
        let mut words = plain.split_whitespace();
        let tool = words.next().unwrap_or("");
        let tool = tool.rsplit('/').next().unwrap_or(tool);
        if !batch::IPT_TOOLS.contains(&tool) || !words.any(|w| w == "-D" || w == "--delete") {
            return false;
        }
        any = true;
    }
    any
}

/// `line` with every `<tag>` (no blanks or angle brackets inside) replaced
/// by a placeholder word.
fn strip_tags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        match after.find(|c: char| c == '>' || c == '<' || c.is_whitespace()) {
            Some(end) if end > 0 && after[end..].starts_with('>') => {
                out.push_str(&rest[..start]);
                out.push_str("TAG");
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `^(\w+)\?(family)=(.*)$`
fn is_conditional_family_key(key: &str) -> bool {
    match key.split_once("?family=") {
        Some((base, _)) => {
            !base.is_empty() && base.chars().all(|c| c.is_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn conditional_for(family: &str) -> String {
    if family.is_empty() {
        String::new()
    } else {
        format!("family={family}")
    }
}

/// Whether the host has IPv6 addresses (fail2ban asks for its own
/// addresses; any configured IPv6 address means "allowed").
fn ipv6_available() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests;
