//! Statistics (python's `PeerStats`, `NodeStats` and `SecondSlotCounter`):
//! counters by second over a window, processing times and result-code
//! ranges. Pure: every call takes the current time in seconds.

use std::collections::{BTreeMap, VecDeque};

/// How many processing times are kept, per command and overall (python: 1024).
pub const PROCESSING_TIMES_KEPT: usize = 1024;

/// A counter that remembers when it was incremented, one slot per second,
/// forgetting slots older than its maximum age (python's `SecondSlotCounter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondSlotCounter {
    max_age: u64,
    slots: VecDeque<(u64, u64)>,
}

impl SecondSlotCounter {
    /// A counter keeping `max_age` seconds.
    pub fn new(max_age: u64) -> Self {
        SecondSlotCounter {
            max_age,
            slots: VecDeque::new(),
        }
    }

    /// Adds `count` at second `now`.
    pub fn add_count(&mut self, now: u64, count: u64) {
        match self.slots.back_mut() {
            Some((sec, c)) if *sec == now => *c += count,
            _ => self.slots.push_back((now, count)),
        }
        let cutoff = now.saturating_sub(self.max_age);
        while self.slots.front().is_some_and(|(sec, _)| *sec < cutoff) {
            self.slots.pop_front();
        }
    }

    /// The count of the last `since` seconds, or of the whole window.
    pub fn get_count(&self, now: u64, since: Option<u64>) -> u64 {
        let cutoff = since.map_or(0, |s| now.saturating_sub(s));
        self.slots
            .iter()
            .filter(|(sec, _)| *sec >= cutoff)
            .map(|(_, c)| c)
            .sum()
    }

    /// Counts for several windows at once (python's `get_counts`).
    pub fn get_counts(&self, now: u64, since: &[u64]) -> Vec<u64> {
        since
            .iter()
            .map(|s| self.get_count(now, Some(*s)))
            .collect()
    }
}

/// Per-peer statistics (python's `PeerStats`).
#[derive(Debug, Clone)]
pub struct PeerStats {
    /// The last processing times (seconds) of answered requests, overall.
    pub processed_req_time_total: VecDeque<f64>,
    /// The last processing times (seconds) by command name.
    pub processed_req_time: BTreeMap<String, VecDeque<f64>>,
    /// Messages received, by second, over 1,000 s.
    pub received_req_counter: SecondSlotCounter,
    /// Answers sent by Result-Code range (`"2xxx"`), by second, over 1,000 s.
    pub sent_result_code_range_counters: BTreeMap<String, SecondSlotCounter>,
}

impl Default for PeerStats {
    fn default() -> Self {
        PeerStats {
            processed_req_time_total: VecDeque::new(),
            processed_req_time: BTreeMap::new(),
            received_req_counter: SecondSlotCounter::new(1000),
            sent_result_code_range_counters: BTreeMap::new(),
        }
    }
}

fn push_bounded(q: &mut VecDeque<f64>, v: f64) {
    if q.len() == PROCESSING_TIMES_KEPT {
        q.pop_front();
    }
    q.push_back(v);
}

fn per_second(times: &VecDeque<f64>) -> f64 {
    let total: f64 = times.iter().sum();
    if total > 0.0 {
        times.len() as f64 / total
    } else {
        0.0
    }
}

fn average(times: &VecDeque<f64>) -> f64 {
    if times.is_empty() {
        0.0
    } else {
        times.iter().sum::<f64>() / times.len() as f64
    }
}

impl PeerStats {
    /// Records how long a request of `command` took to answer.
    pub fn add_processed_req_time(&mut self, command: &str, seconds: f64) {
        push_bounded(&mut self.processed_req_time_total, seconds);
        // a lookup by `&str` first: every answer comes here, and the key is
        // copied only for a command's first
        match self.processed_req_time.get_mut(command) {
            Some(per) => push_bounded(per, seconds),
            None => {
                let mut per = VecDeque::new();
                push_bounded(&mut per, seconds);
                self.processed_req_time.insert(command.to_owned(), per);
            }
        }
    }

    /// Records `count` received messages at second `now`.
    pub fn add_received_req(&mut self, now: u64, count: u64) {
        self.received_req_counter.add_count(now, count);
    }

    /// Records a sent answer's Result-Code at second `now`.
    pub fn add_sent_result_code(&mut self, now: u64, result_code: u32) {
        const RANGES: [&str; 10] = [
            "0xxx", "1xxx", "2xxx", "3xxx", "4xxx", "5xxx", "6xxx", "7xxx", "8xxx", "9xxx",
        ];
        let range = result_code / 1000;
        let owned;
        let key = match RANGES.get(range as usize) {
            Some(key) => *key,
            None => {
                owned = format!("{range}xxx");
                owned.as_str()
            }
        };
        match self.sent_result_code_range_counters.get_mut(key) {
            Some(counter) => counter.add_count(now, 1),
            None => {
                let mut counter = SecondSlotCounter::new(1000);
                counter.add_count(now, 1);
                self.sent_result_code_range_counters
                    .insert(key.to_owned(), counter);
            }
        }
    }

    /// Requests processed per second of processing time, by command.
    pub fn processed_req_per_second(&self) -> BTreeMap<String, f64> {
        self.processed_req_time
            .iter()
            .map(|(k, v)| (k.clone(), per_second(v)))
            .collect()
    }

    /// Requests processed per second of processing time, overall.
    pub fn processed_req_per_second_overall(&self) -> f64 {
        per_second(&self.processed_req_time_total)
    }

    /// Average processing time in seconds, by command.
    pub fn avg_response_time(&self) -> BTreeMap<String, f64> {
        self.processed_req_time
            .iter()
            .map(|(k, v)| (k.clone(), average(v)))
            .collect()
    }

    /// Average processing time in seconds, overall (0 when none).
    pub fn avg_response_time_overall(&self) -> f64 {
        average(&self.processed_req_time_total)
    }
}

/// The node's statistics, summed over its peers (python's `NodeStats`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeStats {
    /// Average processing time by command, seconds.
    pub avg_response_time: BTreeMap<String, f64>,
    /// Average processing time, seconds.
    pub avg_response_time_overall: f64,
    /// Requests processed per second of processing time, by command.
    pub processed_req_per_second: BTreeMap<String, f64>,
    /// Requests processed per second of processing time.
    pub processed_req_per_second_overall: f64,
    /// Messages received in the last 60, 300 and 900 seconds.
    pub received_req_counters: [u64; 3],
    /// Answers sent by Result-Code range, in the last 60, 300 and 900 seconds.
    pub sent_result_code_range_counters: BTreeMap<String, [u64; 3]>,
}

impl NodeStats {
    /// Sums peers' statistics at second `now`. Averages are exact (python
    /// rounds each peer's summed times up first).
    pub fn from_peers<'a>(peers: impl IntoIterator<Item = &'a PeerStats>, now: u64) -> NodeStats {
        let mut by_cmd: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        let (mut total, mut n) = (0.0, 0usize);
        let mut stats = NodeStats::default();
        for p in peers {
            for (cmd, times) in &p.processed_req_time {
                let e = by_cmd.entry(cmd.clone()).or_default();
                e.0 += times.iter().sum::<f64>();
                e.1 += times.len();
            }
            total += p.processed_req_time_total.iter().sum::<f64>();
            n += p.processed_req_time_total.len();
            let c = p.received_req_counter.get_counts(now, &[60, 300, 900]);
            for (slot, v) in stats.received_req_counters.iter_mut().zip(c) {
                *slot += v;
            }
            for (range, counter) in &p.sent_result_code_range_counters {
                let c = counter.get_counts(now, &[60, 300, 900]);
                let slots = stats
                    .sent_result_code_range_counters
                    .entry(range.clone())
                    .or_default();
                for (slot, v) in slots.iter_mut().zip(c) {
                    *slot += v;
                }
            }
        }
        for (cmd, (sum, count)) in by_cmd {
            let avg = if count > 0 { sum / count as f64 } else { 0.0 };
            let rate = if sum > 0.0 { count as f64 / sum } else { 0.0 };
            stats.avg_response_time.insert(cmd.clone(), avg);
            stats.processed_req_per_second.insert(cmd, rate);
        }
        stats.avg_response_time_overall = if n > 0 { total / n as f64 } else { 0.0 };
        stats.processed_req_per_second_overall = if total > 0.0 { n as f64 / total } else { 0.0 };
        stats
    }
}

/// Unix time in whole seconds: the statistics' clock, as python's.
pub(crate) fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_slots_count_and_forget() {
        let mut c = SecondSlotCounter::new(10);
        c.add_count(100, 1);
        c.add_count(100, 2);
        c.add_count(105, 4);
        assert_eq!(c.get_count(105, None), 7);
        assert_eq!(c.get_count(105, Some(3)), 4);
        assert_eq!(c.get_counts(105, &[0, 5, 60]), [4, 7, 7]);
        c.add_count(112, 1); // 100 falls out of the 10 s window
        assert_eq!(c.get_count(112, None), 5);
    }

    #[test]
    fn peer_and_node_figures() {
        let mut a = PeerStats::default();
        a.add_processed_req_time("Credit-Control", 0.5);
        a.add_processed_req_time("Credit-Control", 1.5);
        a.add_sent_result_code(10, 2001);
        a.add_sent_result_code(10, 5012);
        a.add_received_req(10, 3);
        assert_eq!(a.avg_response_time()["Credit-Control"], 1.0);
        assert_eq!(a.processed_req_per_second_overall(), 1.0);
        let mut b = PeerStats::default();
        b.add_processed_req_time("Credit-Control", 0.25);
        b.add_sent_result_code(11, 2001);
        b.add_received_req(11, 1);
        let n = NodeStats::from_peers([&a, &b], 11);
        assert!((n.avg_response_time["Credit-Control"] - 2.25 / 3.0).abs() < 1e-12);
        assert!((n.processed_req_per_second_overall - 3.0 / 2.25).abs() < 1e-12);
        assert_eq!(n.received_req_counters, [4, 4, 4]);
        assert_eq!(n.sent_result_code_range_counters["2xxx"], [2, 2, 2]);
        assert_eq!(n.sent_result_code_range_counters["5xxx"], [1, 1, 1]);
        for _ in 0..2000 {
            a.add_processed_req_time("X", 1.0);
        }
        assert_eq!(a.processed_req_time["X"].len(), PROCESSING_TIMES_KEPT);
        assert_eq!(NodeStats::from_peers([], 0), NodeStats::default());
    }
}
