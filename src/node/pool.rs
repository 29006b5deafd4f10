//! TEMPORARY stub (replaced by the real pool).
use std::sync::Arc;
use std::time::Duration;
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig { pub max_threads: usize, pub hard_cap: usize, pub keep_alive: Duration, pub name: String }
pub(crate) struct WorkerPool { c: PoolConfig }
impl WorkerPool {
    pub(crate) fn new(c: PoolConfig) -> Arc<WorkerPool> { Arc::new(WorkerPool { c }) }
    pub(crate) fn try_execute(&self, job: Job) -> Result<(), Job> { std::thread::spawn(job); Ok(()) }
    pub(crate) fn limit(&self) -> usize { if self.c.max_threads == 0 { self.c.hard_cap } else { self.c.max_threads } }
    pub(crate) fn busy(&self) -> usize { 0 }
    pub(crate) fn threads(&self) -> usize { 0 }
    pub(crate) fn shutdown(&self, _t: Duration) -> bool { true }
}
