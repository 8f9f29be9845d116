//! Partitions worked on by several threads ("lanes"), their outputs stitched back into the order
//! one thread would have produced.
//!
//! Partitions share nothing (each has its own watermark, customers and wake heap), so lane `t`
//! owns partitions `t, t + lanes, ...` and works through its items in order. Every item carries a
//! sequence number (an event's index in its batch, or a partition's number); the lanes mark where
//! each item's changes end in their own output, and the stitch copies those pieces in sequence
//! order. The change file is byte for byte the one-thread file: tests run both and compare.

use super::partition::Partition;
use super::plan::Plan;
use super::timeline::{Context, Output, Scratch, Selections};

/// Counts a step reports besides its changes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub duplicates: u64,
    pub late: u64,
}

/// One unit of work: its place in the sequential order, the partition it runs on, its payload.
pub struct Item<T> {
    pub seq: usize,
    pub partition: usize,
    pub payload: T,
}

struct LaneResult {
    out: Output,
    /// Per item, in sequence order: (seq, end of its JSON, of its transitions, of its keys).
    marks: Vec<(usize, usize, usize, usize)>,
    tally: Tally,
}

pub struct Lanes<'a> {
    pub plan: &'a Plan,
    pub selections: &'a Selections,
    pub lanes: usize,
}

impl Lanes<'_> {
    /// Run `step` on every item, on `self.lanes` threads (or this one when there is one lane);
    /// `output` makes an empty output for a lane.
    pub fn run<T: Send>(
        &self,
        partitions: &mut [Partition],
        items: Vec<Item<T>>,
        output: &(dyn Fn(usize) -> Output + Sync),
        step: &(dyn Fn(&mut Partition, &mut Context, T) -> Tally + Sync),
    ) -> (Output, Tally) {
        let lanes = self.lanes.clamp(1, partitions.len().max(1));
        if lanes == 1 {
            let mut owned: Vec<&mut Partition> = partitions.iter_mut().collect();
            let result = self.lane(&mut owned, 1, items, output, step);
            return (result.out, result.tally);
        }
        let mut owned: Vec<Vec<&mut Partition>> = (0..lanes).map(|_| Vec::new()).collect();
        for (number, partition) in partitions.iter_mut().enumerate() {
            owned[number % lanes].push(partition);
        }
        let mut work: Vec<Vec<Item<T>>> = (0..lanes).map(|_| Vec::new()).collect();
        for item in items {
            work[item.partition % lanes].push(item);
        }
        let results: Vec<LaneResult> = std::thread::scope(|scope| {
            let handles: Vec<_> = owned
                .into_iter()
                .zip(work)
                .map(|(mut mine, items)| scope.spawn(move || self.lane(&mut mine, lanes, items, output, step)))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a lane panicked"))
                .collect()
        });
        stitch(results, output)
    }

    fn lane<T>(
        &self,
        mine: &mut [&mut Partition],
        lanes: usize,
        items: Vec<Item<T>>,
        output: &(dyn Fn(usize) -> Output + Sync),
        step: &(dyn Fn(&mut Partition, &mut Context, T) -> Tally + Sync),
    ) -> LaneResult {
        let mut out = output(items.len());
        let mut scratch = Scratch::default();
        let mut marks = Vec::with_capacity(items.len());
        let mut tally = Tally::default();
        for item in items {
            let mut cx = Context {
                plan: self.plan,
                selections: self.selections,
                scratch: &mut scratch,
                out: &mut out,
            };
            let counted = step(&mut *mine[item.partition / lanes], &mut cx, item.payload);
            tally.duplicates += counted.duplicates;
            tally.late += counted.late;
            marks.push((
                item.seq,
                out.json.as_ref().map_or(0, Vec::len),
                out.transitions.as_ref().map_or(0, Vec::len),
                out.keys.as_ref().map_or(0, Vec::len),
            ));
        }
        LaneResult { out, marks, tally }
    }
}

/// The lanes' outputs as one, each item's piece in sequence order.
fn stitch(results: Vec<LaneResult>, output: &(dyn Fn(usize) -> Output + Sync)) -> (Output, Tally) {
    let mut pieces = Vec::new(); // (seq, lane, json range, transitions range, keys range)
    for (lane, result) in results.iter().enumerate() {
        let (mut json_start, mut transitions_start, mut keys_start) = (0, 0, 0);
        for &(seq, json_end, transitions_end, keys_end) in &result.marks {
            pieces.push((
                seq,
                lane,
                json_start..json_end,
                transitions_start..transitions_end,
                keys_start..keys_end,
            ));
            (json_start, transitions_start, keys_start) = (json_end, transitions_end, keys_end);
        }
    }
    pieces.sort_unstable_by_key(|piece| piece.0);
    let mut out = output(0);
    if let Some(json) = &mut out.json {
        json.reserve(
            results
                .iter()
                .map(|result| result.out.json.as_ref().map_or(0, Vec::len))
                .sum(),
        );
    }
    for (_, lane, json_range, transitions_range, keys_range) in pieces {
        let from = &results[lane].out;
        if let (Some(json), Some(source)) = (&mut out.json, &from.json) {
            json.extend_from_slice(&source[json_range]);
        }
        if let (Some(transitions), Some(source)) = (&mut out.transitions, &from.transitions) {
            transitions.extend_from_slice(&source[transitions_range]);
        }
        if let (Some(keys), Some(source)) = (&mut out.keys, &from.keys) {
            keys.extend_from_slice(&source[keys_range]);
        }
    }
    let mut tally = Tally::default();
    for result in &results {
        out.count += result.out.count;
        out.unwritable = match (out.unwritable, result.out.unwritable) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tally.duplicates += result.tally.duplicates;
        tally.late += result.tally.late;
    }
    (out, tally)
}
