//! A frontier that waits for confirmations: [`HoldUntilConfirmed`] passes a stream through and
//! holds each time in its output frontier until what was handed over by then is confirmed (a
//! producer has delivered the results written when the time's data passed).
//!
//! A job of several processes commits a record's offset in the process that read it, but may
//! send its result from another (the keyed pipeline scores a record on its key's worker). The
//! output frontier then says that a time's results were sent everywhere only once each worker
//! holds it until its own process's producer has delivered what it sent: every process's commits
//! wait for every process's deliveries, and no result travels back to where its record was read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

/// What confirms that what was handed over has reached its destination, such as a producer's
/// delivery reports.
pub trait Confirmations: 'static {
    /// A point in what was handed over: everything before it.
    type Mark: Copy;

    /// The point that everything handed over until now lies before.
    fn mark(&self) -> Self::Mark;

    /// Whether everything before `mark` is confirmed, or never will be (nothing is to wait for
    /// it any more: the job is stopping).
    fn settled(&self, mark: Self::Mark) -> bool;
}

/// How often an operator holding times looks at the confirmations again.
const RECHECK: Duration = Duration::from_millis(1);

/// Extension trait for holding a stream's times until they are confirmed.
pub trait HoldUntilConfirmed<'scope, T: Timestamp, D> {
    /// Passes the stream through; each time at which data passed stays in the output frontier
    /// until `confirmations` has settled what was handed over when the data passed (by
    /// operators upstream of this one, on this worker, or elsewhere in its process).
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// use modelserver::pipeline::confirm::{Confirmations, HoldUntilConfirmed};
    /// use timely::dataflow::operators::{Input, Probe};
    /// use timely::dataflow::operators::vec::Map;
    /// use timely::dataflow::ProbeHandle;
    ///
    /// /// Counts what is handed over, and what is confirmed.
    /// #[derive(Default)]
    /// struct Deliveries { sent: AtomicUsize, confirmed: AtomicUsize }
    ///
    /// impl Confirmations for Deliveries {
    ///     type Mark = usize;
    ///     fn mark(&self) -> usize { self.sent.load(Ordering::Relaxed) }
    ///     fn settled(&self, mark: usize) -> bool { self.confirmed.load(Ordering::Relaxed) >= mark }
    /// }
    ///
    /// timely::execute_directly(|worker| {
    ///     let deliveries = Arc::new(Deliveries::default());
    ///     let probe = ProbeHandle::new();
    ///     let mut input = worker.dataflow(|scope| {
    ///         let (input, stream) = scope.new_input::<Vec<u64>>();
    ///         let sent = deliveries.clone();
    ///         stream
    ///             .map(move |x| { sent.sent.fetch_add(1, Ordering::Relaxed); x })
    ///             .hold_until_confirmed(deliveries.clone())
    ///             .probe_with(&probe);
    ///         input
    ///     });
    ///     input.send(7);
    ///     input.advance_to(1);
    ///     for _ in 0..10 {
    ///         worker.step();
    ///     }
    ///     assert!(probe.less_than(&1), "time 0 is held until its record is delivered");
    ///     deliveries.confirmed.store(1, Ordering::Relaxed);
    ///     while probe.less_than(&1) { worker.step(); }
    /// });
    /// ```
    fn hold_until_confirmed<C: Confirmations>(
        self,
        confirmations: Arc<C>,
    ) -> StreamVec<'scope, T, D>;
}

impl<'scope, T, D> HoldUntilConfirmed<'scope, T, D> for StreamVec<'scope, T, D>
where
    T: Timestamp + TotalOrder,
    D: 'static,
{
    fn hold_until_confirmed<C: Confirmations>(
        self,
        confirmations: Arc<C>,
    ) -> StreamVec<'scope, T, D> {
        let scope = self.scope();
        self.unary(Pipeline, "HoldUntilConfirmed", move |_, info| {
            let activator = scope.activator_for(info.address.clone());
            // The least time of each activation that passed data, with the mark taken after it.
            let mut held: VecDeque<(Capability<T>, C::Mark)> = VecDeque::new();
            move |input, output| {
                let mut least: Option<Capability<T>> = None;
                input.for_each_stamp(|capability, batches| {
                    let Some(capability) = capability.retain_least(0) else {
                        return;
                    };
                    output.session(&capability).give_containers(batches);
                    if least
                        .as_ref()
                        .is_none_or(|least| capability.time() < least.time())
                    {
                        least = Some(capability);
                    }
                });
                if let Some(least) = least {
                    held.push_back((least, confirmations.mark()));
                }
                while held
                    .front()
                    .is_some_and(|(_, mark)| confirmations.settled(*mark))
                {
                    held.pop_front();
                }
                if !held.is_empty() {
                    activator.activate_after(RECHECK);
                }
            }
        })
    }
}
