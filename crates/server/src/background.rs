//! The node's background tasks (runner, notifier, hand-offs), watched: none
//! may end while the server answers, or it would accept events that nothing
//! processes. When one ends or panics the server says which and exits
//! non-zero, so a supervisor (systemd, Kubernetes) restarts it.

use std::collections::HashMap;
use std::future::Future;
use tokio::task::{AbortHandle, Id, JoinSet};

#[derive(Default)]
pub struct Background {
    tasks: JoinSet<()>,
    names: HashMap<Id, &'static str>,
    aborts: HashMap<&'static str, AbortHandle>,
}

impl Background {
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let abort = self.tasks.spawn(task);
        self.names.insert(abort.id(), name);
        self.aborts.insert(name, abort);
    }

    /// Waits until a task ends, and says which and how. Never returns while
    /// every task runs; pending for ever when there are none.
    pub async fn first_to_stop(&mut self) -> anyhow::Error {
        match self.tasks.join_next_with_id().await {
            Some(Ok((id, ()))) => {
                anyhow::anyhow!("the {} stopped", self.names.get(&id).unwrap_or(&"task"))
            }
            Some(Err(e)) => {
                let name = self.names.get(&e.id()).unwrap_or(&"task");
                anyhow::anyhow!("the {name} failed: {e}")
            }
            None => std::future::pending().await,
        }
    }

    /// Stops the task called `name` at its next await; [`Self::drain`]
    /// waits until it is gone.
    pub fn stop(&mut self, name: &'static str) {
        if let Some(abort) = self.aborts.remove(name) {
            abort.abort();
        }
    }

    /// Waits up to `within` for every remaining task to end by itself.
    pub async fn drain(&mut self, within: std::time::Duration) -> bool {
        tokio::time::timeout(within, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_task_that_panics_is_named() {
        let mut bg = Background::default();
        bg.spawn("notifier", std::future::pending());
        bg.spawn("runner", async { panic!("database gone") });
        let error = bg.first_to_stop().await.to_string();
        assert!(error.contains("the runner failed"), "{error}");
        assert!(error.contains("panicked"), "{error}");
    }

    #[tokio::test]
    async fn a_task_that_returns_is_named() {
        let mut bg = Background::default();
        bg.spawn("runner", std::future::pending());
        bg.spawn("hand-offs", async {});
        assert_eq!(
            bg.first_to_stop().await.to_string(),
            "the hand-offs stopped"
        );
    }

    #[tokio::test]
    async fn stopping_one_lets_the_others_finish_their_work() {
        let mut bg = Background::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        // A "runner" that ends once every sender is gone, like the real one.
        bg.spawn("runner", async move { while rx.recv().await.is_some() {} });
        bg.spawn("notifier", async move {
            tx.send(1).await.unwrap();
            std::future::pending::<()>().await;
        });
        bg.stop("notifier");
        assert!(bg.drain(Duration::from_secs(5)).await, "the runner ended");
    }
}
