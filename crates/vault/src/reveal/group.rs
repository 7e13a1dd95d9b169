//! Group commit for reveals. A reveal is one audited write, and on a disk where one fsync costs
//! milliseconds, one transaction per reveal caps a helpdesk at a few hundred reveals a second
//! whatever else the code does. Here concurrent reveals share one transaction and so one fsync:
//!
//! - Every caller queues its reveal, then waits for either its answer or the leader lock.
//! - Whoever gets the leader lock takes up to [`MAX_BATCH`] queued reveals and hands them to the
//!   committer (`Vault::reveal_batch`): one write transaction in which every reveal is decided
//!   before anything is written (so a failing reveal leaves no trace and the others go on), all
//!   audit events appended at once, one commit; only then is every caller answered.
//!
//! So a code is still never returned before its audit entry is durable, and a reveal alone (the
//! CLI, a quiet helpdesk) is a batch of one with no added wait: nobody sleeps to gather a batch;
//! the batch is whatever queued while the previous commit was running.
//!
//! Cancellation: a leader is an ordinary request future and can be dropped (the client hung up).
//! Its transaction then rolls back and the callers whose reveals it held see their answer channel
//! closed and queue their reveal again. If the drop lands while the `COMMIT` itself is in flight,
//! the commit may still have happened and the re-queued reveal is audited twice; the code is
//! computed once per answer, so this can over-count the quota but never disclose without audit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

use tokendesk_otp::TotpCode;

use super::request::RevealRequest;
use crate::error::Result;
use crate::policy::Actor;
use crate::records::Record;

/// The most reveals one transaction carries. Enough to absorb every connection of a busy
/// helpdesk between two fsyncs, small enough that one transaction never holds the write lock
/// for long.
pub(crate) const MAX_BATCH: usize = 64;

/// Upper bounds of the batch-size histogram ([`BatchSizes`]); the last is [`MAX_BATCH`].
pub const BATCH_BUCKETS: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];

/// How many reveals the committed batches held, as a histogram: for each upper bound of
/// [`BATCH_BUCKETS`] the number of batches of at most that size (cumulative), the sum of the
/// sizes and the number of batches. For the metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchSizes {
    /// `(upper bound, batches of at most that size)`, in [`BATCH_BUCKETS`] order.
    pub buckets: [(u64, u64); 7],
    /// Reveals in all batches.
    pub sum: u64,
    /// Batches.
    pub count: u64,
}

/// What a reveal answers: the record and the codes.
pub(crate) type Revealed = (Record, Vec<TotpCode>);

/// One queued reveal and where its answer goes.
pub(crate) struct Job {
    pub actor: Actor,
    pub request: RevealRequest,
    pub reply: oneshot::Sender<Result<Revealed>>,
}

/// Runs one batch and answers every job in it (the vault's is `Vault::reveal_batch`).
pub(crate) trait Commit {
    fn commit(&self, batch: Vec<Job>) -> impl Future<Output = ()> + Send;
}

/// The queue and the leader lock of one vault.
#[derive(Default)]
pub(crate) struct RevealGroup {
    queue: Mutex<VecDeque<Job>>,
    leader: tokio::sync::Mutex<()>,
    /// Batches of at most each [`BATCH_BUCKETS`] size (cumulative), reveals, batches.
    sizes: [AtomicU64; 7],
    revealed: AtomicU64,
    batches: AtomicU64,
}

impl RevealGroup {
    /// Queues a reveal and returns its answer, committing a batch itself when it becomes leader.
    pub(crate) async fn submit(
        &self,
        actor: &Actor,
        request: &RevealRequest,
        committer: &impl Commit,
    ) -> Result<Revealed> {
        loop {
            let (reply, mut answer) = oneshot::channel();
            self.push(Job {
                actor: actor.clone(),
                request: request.clone(),
                reply,
            });
            loop {
                tokio::select! {
                    biased;
                    got = &mut answer => match got {
                        Ok(result) => return result,
                        // The leader holding our reveal was dropped before answering: queue again.
                        Err(_) => break,
                    },
                    _leader = self.leader.lock() => {
                        let batch = self.take(MAX_BATCH);
                        if !batch.is_empty() {
                            self.count(batch.len());
                            committer.commit(batch).await;
                        }
                    }
                }
            }
        }
    }

    /// Counts a batch of `n` reveals for [`RevealGroup::sizes`].
    fn count(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        for (bound, counter) in BATCH_BUCKETS.iter().zip(&self.sizes) {
            if n <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.revealed.fetch_add(n, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// The batch sizes so far.
    pub(crate) fn sizes(&self) -> BatchSizes {
        let mut buckets = [(0, 0); 7];
        for ((slot, bound), counter) in buckets.iter_mut().zip(BATCH_BUCKETS).zip(&self.sizes) {
            *slot = (bound, counter.load(Ordering::Relaxed));
        }
        BatchSizes {
            buckets,
            sum: self.revealed.load(Ordering::Relaxed),
            count: self.batches.load(Ordering::Relaxed),
        }
    }

    fn push(&self, job: Job) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(job);
    }

    fn take(&self, max: usize) -> Vec<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let n = queue.len().min(max);
        queue.drain(..n).collect()
    }
}

impl std::fmt::Debug for RevealGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevealGroup").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::error::VaultError;

    #[test]
    fn batch_sizes_are_counted_per_bucket() {
        let g = RevealGroup::default();
        for n in [1, 1, 3, 64] {
            g.count(n);
        }
        let sizes = g.sizes();
        assert_eq!(
            sizes.buckets,
            [(1, 2), (2, 2), (4, 3), (8, 3), (16, 3), (32, 3), (64, 4)]
        );
        assert_eq!((sizes.sum, sizes.count), (69, 4));
    }

    fn request(i: usize) -> RevealRequest {
        RevealRequest {
            upn: format!("u{i}@contoso.com"),
            ticket: crate::Ticket::new("INC-1").unwrap(),
            method: crate::Verification::CallBack,
            purpose: crate::Purpose::ReadOut,
            at_unix_secs: vec![0],
            approval: None,
            record_id: None,
            following_steps: 0,
        }
    }

    fn queued(group: &RevealGroup) -> usize {
        group
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    async fn wait_for_queue(group: &RevealGroup, n: usize) {
        for _ in 0..1000 {
            if queued(group) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{} of {n} reveals queued", queued(group));
    }

    type Log = Arc<std::sync::Mutex<Vec<Vec<String>>>>;

    /// Answers every job with the batch's number (as an error: no record is needed here), so
    /// each caller can tell which commit carried its reveal; the first commit can be made to
    /// hang forever. The real committer is the vault (`Vault::reveal_batch`), tested on both
    /// backends in tests/it/reveal.rs.
    #[derive(Clone, Default)]
    struct Numbering {
        batches: Log,
        /// Callers that started a commit, in order; the first one hangs if `hang_first`.
        leaders: Arc<std::sync::Mutex<Vec<usize>>>,
        hang_first: bool,
        caller: usize,
    }

    impl Commit for Numbering {
        async fn commit(&self, batch: Vec<Job>) {
            let first = {
                let mut leaders = self.leaders.lock().unwrap();
                leaders.push(self.caller);
                leaders.len() == 1
            };
            if first && self.hang_first {
                std::future::pending::<()>().await;
            }
            let mut all = self.batches.lock().unwrap();
            all.push(batch.iter().map(|j| j.request.upn.clone()).collect());
            let n = all.len();
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(VaultError::Invalid(crate::Invalid::Operator(format!(
                        "batch {n}"
                    )))));
            }
        }
    }

    /// `n` callers, each submitting reveal `i` with its own committer sharing `numbering`'s log.
    fn spawn_callers(
        group: &Arc<RevealGroup>,
        numbering: &Numbering,
        n: usize,
    ) -> Vec<tokio::task::JoinHandle<Result<()>>> {
        (0..n)
            .map(|i| {
                let group = group.clone();
                let committer = Numbering {
                    caller: i,
                    ..numbering.clone()
                };
                tokio::spawn(async move {
                    group
                        .submit(&Actor::new("op"), &request(i), &committer)
                        .await
                        .map(|_| ())
                })
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reveals_queued_during_a_commit_share_the_next_one_up_to_the_cap() {
        let group = Arc::new(RevealGroup::default());
        let numbering = Numbering::default();
        // A commit in progress holds the leader lock while 70 reveals arrive.
        let running = group.leader.lock().await;
        let callers = spawn_callers(&group, &numbering, 70);
        wait_for_queue(&group, 70).await;
        drop(running);
        let mut answers = Vec::new();
        for caller in callers {
            answers.push(caller.await.unwrap().unwrap_err().to_string());
        }
        let batches = numbering.batches.lock().unwrap().clone();
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_BATCH, 70 - MAX_BATCH]);
        // Every caller was answered by the commit that carried its own reveal, once.
        for (i, answer) in answers.iter().enumerate() {
            let upn = request(i).upn;
            let carried: Vec<usize> = (0..batches.len())
                .filter(|&b| batches[b].contains(&upn))
                .collect();
            assert_eq!(carried.len(), 1, "{upn} in {carried:?}");
            assert!(answer.ends_with(&format!("batch {}", carried[0] + 1)));
        }
        assert_eq!(queued(&group), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reveal_alone_is_committed_at_once() {
        let group = RevealGroup::default();
        let numbering = Numbering::default();
        let answer = group
            .submit(&Actor::new("op"), &request(1), &numbering)
            .await;
        assert!(answer.unwrap_err().to_string().ends_with("batch 1"));
        assert_eq!(
            *numbering.batches.lock().unwrap(),
            [vec!["u1@contoso.com".to_owned()]]
        );
    }

    /// The leader is a request future; when it is dropped mid-commit (client gone), the
    /// reveals it carried are queued again and answered by the next leader.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_leader_does_not_lose_the_reveals_it_carried() {
        let group = Arc::new(RevealGroup::default());
        let numbering = Numbering {
            hang_first: true,
            ..Numbering::default()
        };
        let leaders = numbering.leaders.clone();
        let running = group.leader.lock().await;
        let callers = spawn_callers(&group, &numbering, 2);
        wait_for_queue(&group, 2).await;
        drop(running);
        let leader = loop {
            if let Some(&first) = leaders.lock().unwrap().first() {
                break first;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let survivor = 1 - leader;
        let mut callers = callers.into_iter();
        let (first, second) = (callers.next().unwrap(), callers.next().unwrap());
        let (dropped, kept) = if leader == 0 {
            (first, second)
        } else {
            (second, first)
        };
        dropped.abort();
        let answer = tokio::time::timeout(Duration::from_secs(10), kept)
            .await
            .expect("the surviving reveal was answered")
            .unwrap();
        assert!(answer.unwrap_err().to_string().ends_with("batch 1"));
        assert_eq!(
            *numbering.batches.lock().unwrap(),
            [vec![format!("u{survivor}@contoso.com")]]
        );
    }
}
