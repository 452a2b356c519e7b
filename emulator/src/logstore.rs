//! The emulated `AmlOnlineEndpointTrafficLog`: rows in time order, in immutable chunks so a
//! query scans a snapshot without holding the lock while the generator keeps appending.
//! Rows older than the retention window are dropped, which bounds memory on long runs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use crate::model::{EndpointLogContext, RequestRow};

const CHUNK_ROWS: usize = 16 * 1024;

#[derive(Default)]
struct Inner {
    strings: Vec<Arc<str>>,
    string_ids: HashMap<Arc<str>, u32>,
    endpoints: Vec<Arc<EndpointLogContext>>,
    sealed: VecDeque<Arc<Vec<RequestRow>>>,
    open: Vec<RequestRow>,
    total_rows: u64,
}

/// A consistent view of the log at one instant: chunks in time order plus the tables that
/// resolve a row's interned fields.
#[derive(Clone)]
pub struct LogSnapshot {
    pub chunks: Vec<Arc<Vec<RequestRow>>>,
    pub strings: Vec<Arc<str>>,
    pub endpoints: Vec<Arc<EndpointLogContext>>,
}

impl LogSnapshot {
    pub fn rows(&self) -> impl Iterator<Item = &RequestRow> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn string(&self, id: u32) -> &str {
        self.strings.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    pub fn endpoint(&self, id: u32) -> Option<&EndpointLogContext> {
        self.endpoints.get(id as usize).map(|e| &**e)
    }
}

#[derive(Default)]
pub struct LogStore {
    inner: RwLock<Inner>,
}

impl LogStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of a string in the store's table (deployment names).
    pub fn intern(&self, s: &str) -> u32 {
        if let Some(id) = self.read().string_ids.get(s) {
            return *id;
        }
        let mut inner = self.write();
        if let Some(id) = inner.string_ids.get(s) {
            return *id;
        }
        let id = inner.strings.len() as u32;
        let arc: Arc<str> = Arc::from(s);
        inner.strings.push(arc.clone());
        inner.string_ids.insert(arc, id);
        id
    }

    /// The id of an endpoint's per-row strings; the same context always gets the same id.
    pub fn endpoint_id(&self, ctx: EndpointLogContext) -> u32 {
        let mut inner = self.write();
        if let Some(pos) = inner.endpoints.iter().position(|e| **e == ctx) {
            return pos as u32;
        }
        inner.endpoints.push(Arc::new(ctx));
        (inner.endpoints.len() - 1) as u32
    }

    /// Appends rows; they must not be older than rows already appended.
    pub fn append(&self, rows: &[RequestRow]) {
        let mut inner = self.write();
        inner.total_rows += rows.len() as u64;
        for row in rows {
            inner.open.push(*row);
            if inner.open.len() >= CHUNK_ROWS {
                let full = std::mem::replace(&mut inner.open, Vec::with_capacity(CHUNK_ROWS));
                inner.sealed.push_back(Arc::new(full));
            }
        }
    }

    /// Drops rows whose TimeGenerated is before `cutoff_us`. Whole chunks go at once; the
    /// oldest partly-expired chunk is trimmed, so nothing older than the cutoff is visible.
    pub fn prune_before(&self, cutoff_us: i64) {
        let mut inner = self.write();
        while let Some(front) = inner.sealed.front() {
            match front.last() {
                Some(last) if last.time_us < cutoff_us => {
                    inner.sealed.pop_front();
                }
                _ => break,
            }
        }
        if let Some(front) = inner.sealed.front_mut()
            && front.first().is_some_and(|r| r.time_us < cutoff_us)
        {
            let kept: Vec<RequestRow> = front
                .iter()
                .filter(|r| r.time_us >= cutoff_us)
                .copied()
                .collect();
            *front = Arc::new(kept);
        }
        if inner.sealed.is_empty() {
            inner.open.retain(|r| r.time_us >= cutoff_us);
        }
    }

    /// Removes every row (a new scenario was loaded).
    pub fn clear(&self) {
        let mut inner = self.write();
        inner.sealed.clear();
        inner.open.clear();
    }

    pub fn snapshot(&self) -> LogSnapshot {
        let inner = self.read();
        let mut chunks: Vec<Arc<Vec<RequestRow>>> = inner.sealed.iter().cloned().collect();
        if !inner.open.is_empty() {
            chunks.push(Arc::new(inner.open.clone()));
        }
        LogSnapshot {
            chunks,
            strings: inner.strings.clone(),
            endpoints: inner.endpoints.clone(),
        }
    }

    /// Rows currently held.
    pub fn len(&self) -> usize {
        let inner = self.read();
        inner.sealed.iter().map(|c| c.len()).sum::<usize>() + inner.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows ever appended (including pruned ones).
    pub fn total_appended(&self) -> u64 {
        self.read().total_rows
    }
}
