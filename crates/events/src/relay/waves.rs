//! A partition's pending events, cut into waves that a bus may publish at once.
//!
//! A bus publishes a batch in any order, and may accept some of its events and not others.
//! A wave holds at most one event per aggregate (the k-th wave, each book's k-th pending
//! event), so whatever happens within a wave, no event of a book can overtake an earlier one;
//! the relay stops at the first wave that did not go through whole.

use bookstore_core::outbox::PendingEvent;
use std::collections::HashMap;
use uuid::Uuid;

/// The waves of `events` (in `seq` order), each in `seq` order.
pub(crate) fn waves(events: &[PendingEvent]) -> Vec<Vec<PendingEvent>> {
    let mut waves: Vec<Vec<PendingEvent>> = Vec::new();
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for event in events {
        let k = seen.entry(event.aggregate_id).or_insert(0);
        if *k == waves.len() {
            waves.push(Vec::new());
        }
        if let Some(wave) = waves.get_mut(*k) {
            wave.push(event.clone());
        }
        *k += 1;
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn event(seq: i64, aggregate: Uuid) -> PendingEvent {
        PendingEvent {
            seq,
            id: Uuid::now_v7(),
            aggregate_id: aggregate,
            event_type: "bookstore.book.updated".into(),
            payload: serde_json::json!({}),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn each_wave_has_one_event_per_book_in_order() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let events = vec![
            event(1, a),
            event(2, b),
            event(3, a),
            event(4, a),
            event(5, c),
            event(6, b),
        ];
        let seqs: Vec<Vec<i64>> = waves(&events)
            .iter()
            .map(|w| w.iter().map(|e| e.seq).collect())
            .collect();
        assert_eq!(seqs, vec![vec![1, 2, 5], vec![3, 6], vec![4]]);
    }

    #[test]
    fn no_events_no_waves() {
        assert!(waves(&[]).is_empty());
    }
}
