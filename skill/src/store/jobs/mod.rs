//! Every kind of write the store makes, one a file, each a [`super::batch::Write`]: its statements
//! in the writer's transaction and its answer.

mod begin;
mod close;
mod complete_open;
mod enqueue;
mod enqueue_for_open;
mod erase;
mod fail_opening;
mod fire_timer;
mod purge;
mod record_outcome;
mod recover_openings;
mod shared;
mod turns;

pub use begin::Begin;
pub use close::Close;
pub use complete_open::CompleteOpen;
pub use enqueue::Enqueue;
pub use enqueue_for_open::EnqueueForOpen;
pub use erase::EraseCustomer;
pub use fail_opening::FailOpening;
pub use fire_timer::FireTimer;
pub use purge::Purge;
pub use record_outcome::RecordOutcome;
pub use recover_openings::RecoverOpenings;
pub use turns::{FinishTurn, RecordTurn};
