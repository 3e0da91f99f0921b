//! A session's timer that fell due: moved on or closing the session, with what it sends, only if
//! the session still has exactly the timer that was read (no customer message, agent or other
//! instance changed it since).

use async_trait::async_trait;

use super::super::batch::{Applied, Batch, Write};
use super::super::connection::{Value, WriteConnection};
use super::super::model::{NewDelivery, TimerThen};
use super::super::sql;
use super::shared::timer_values;
use crate::domain::{SessionId, Timer};

/// Answers whether this call acted on the timer.
pub struct FireTimer {
    pub session: SessionId,
    pub fired: Timer,
    pub then: TimerThen,
    pub rows: Vec<NewDelivery>,
}

#[async_trait]
impl Write for FireTimer {
    type Answer = bool;

    async fn apply(
        &self,
        tx: &mut dyn WriteConnection,
        batch: &mut Batch,
    ) -> anyhow::Result<Applied<bool>> {
        let fired_kind = Value::from(self.fired.kind.as_str());
        let session = self.session.as_str();
        let changed = match &self.then {
            TimerThen::Close => {
                tx.execute(
                    sql::CLOSE_ON_TIMER,
                    &[
                        batch.now.as_str().into(),
                        session.into(),
                        fired_kind,
                        self.fired.due_ms.into(),
                    ],
                )
                .await?
            }
            TimerThen::Next(next) => {
                let [kind, due] = timer_values(*next);
                tx.execute(
                    sql::MOVE_TIMER,
                    &[
                        kind,
                        due,
                        session.into(),
                        fired_kind,
                        self.fired.due_ms.into(),
                    ],
                )
                .await?
            }
        } == 1;
        if !changed {
            return Ok(Applied::Done(false));
        }
        if self.then == TimerThen::Close {
            batch.session_gone(&self.session);
        }
        Ok(Applied::Rows(batch.queue(self.rows.clone()), |_| true))
    }
}
